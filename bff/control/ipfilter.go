package control

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/edgeway/edgeway/internal/proto"
)

// IPRestrictionsChannel is the PostgreSQL channel on which every change to an account's IP
// policies, rules or restrictions is announced (payload: the account id; migration 007).
const IPRestrictionsChannel = "ip_restrictions_changed"

// IPRestrictions gives the compiled IP restrictions of accounts (ippolicy.Cache implements it).
type IPRestrictions interface {
	// Restriction returns the account's compiled restriction of a type, nil when there is none.
	Restriction(ctx context.Context, accountID, typ string) (*ippolicy.Compiled, error)
	// Reload reads an account's restrictions anew (after a change was announced).
	Reload(ctx context.Context, accountID string) error
}

// EnableIPRestrictions makes agents' sign-ins obey their account's agent restriction (115),
// pushes every account's endpoint restriction to the edges, and, with a relay (EnableRelay),
// listens for restriction changes: live agents a change now denies are disconnected and the
// edges get the new endpoint restriction. Call before Serve.
func (s *Server) EnableIPRestrictions(ipr IPRestrictions) {
	s.ipr = ipr
	s.ipReady = make(chan struct{})
}

// IPRestrictionsReady is closed once this replica listens for restriction changes.
func (s *Server) IPRestrictionsReady() <-chan struct{} { return s.ipReady }

// agentIPCheck applies the account's agent restriction to the agent's address.
func (s *Server) agentIPCheck(ctx context.Context, accountID, remote string) error {
	if s.ipr == nil {
		return nil
	}
	comp, err := s.ipr.Restriction(ctx, accountID, ippolicy.TypeAgent)
	if err != nil {
		s.log.Error("check agent ip restriction", "account_id", accountID, "err", err)
		return proto.Errorf(proto.CodeInternal, "the bff could not check the account's agent IP restriction; try again")
	}
	if comp == nil {
		return nil
	}
	ip, _ := ipmatch.ParseAddr(IPOf(remote)) // an unparsable address is denied by every restriction
	d := comp.Decide(ip)
	if d.Allowed {
		return nil
	}
	r := comp.Restriction
	attrs := []any{"account_id", accountID, "client_ip", ip.String(), "ip_restriction_id", r.ID,
		"enforced", r.Enforced, "ip_policy_id", d.Rule.PolicyID, "ip_policy_rule_id", d.Rule.ID}
	if !r.Enforced {
		s.log.Info("agent ip restriction warned (not enforced)", attrs...)
		return nil
	}
	s.log.Info("agent ip restriction blocked agent", attrs...)
	perr := proto.Errorf(proto.CodeAgentIPBlocked, "the agent's IP %s is not allowed by the account's agent IP restriction %s: %s (ERR_EDGEWAY_115)",
		ip, r.ID, explainDecision(comp, d))
	perr.Details = map[string]string{"client_ip": ip.String(), "ip_restriction_id": r.ID, "ip_policy_id": d.Rule.PolicyID}
	return perr
}

// explainDecision says in a sentence fragment why d denies its address.
func explainDecision(c *ippolicy.Compiled, d ipmatch.Decision) string {
	if !d.Matched {
		names := make([]string, 0, len(c.Restriction.PolicyIDs))
		for _, id := range c.Restriction.PolicyIDs {
			names = append(names, c.PolicyName(id))
		}
		if len(names) == 0 {
			return "the restriction has no policies, so it denies every address"
		}
		return fmt.Sprintf("no rule of its policies (%s) matches the address, and an address no rule matches is denied", strings.Join(names, ", "))
	}
	return fmt.Sprintf("the rule %s (%s %s) of policy %s denies it", d.Rule.ID, d.Rule.Action, d.Rule.Prefix, c.PolicyName(d.Rule.PolicyID))
}

// endpointPolicy returns the account's endpoint restriction as pushed to the edges.
func (s *Server) endpointPolicy(ctx context.Context, accountID string) (proto.IPPolicySet, error) {
	set := proto.IPPolicySet{AccountID: accountID}
	comp, err := s.ipr.Restriction(ctx, accountID, ippolicy.TypeEndpoints)
	if err != nil || comp == nil {
		return set, err
	}
	set.RestrictionID, set.Enforced = comp.Restriction.ID, comp.Restriction.Enforced
	set.Rules = make([]proto.IPPolicyRule, 0, len(comp.Rules))
	for _, r := range comp.Rules {
		set.Rules = append(set.Rules, proto.IPPolicyRule{ID: r.ID, PolicyID: r.PolicyID, CIDR: r.Prefix.String(), Action: string(r.Action)})
	}
	return set, nil
}

// pushIPPolicies sends the endpoint restrictions of accounts to one edge; full replaces all the
// edge holds (after its snapshot).
func (s *Server) pushIPPolicies(ctx context.Context, ec *edgeConn, full bool, accountIDs []string) error {
	// Read under the lock, so pushes reach the edge in the order they were read.
	ec.pushMu.Lock()
	defer ec.pushMu.Unlock()
	ctl := ec.ctl
	if ctl == nil {
		return nil // its control stream is not open yet: the snapshot answer will carry it
	}
	msg := proto.IPPolicies{Full: full, Accounts: make([]proto.IPPolicySet, 0, len(accountIDs))}
	for _, a := range accountIDs {
		set, err := s.endpointPolicy(ctx, a)
		if err != nil {
			return err
		}
		msg.Accounts = append(msg.Accounts, set)
	}
	return ctl.Send(proto.TypeIPPolicies, msg)
}

// IPRestrictionsChanged applies a change of an account's restrictions: the edges connected to
// this replica get its endpoint restriction, and its live agents on them that the agent
// restriction now denies are disconnected.
func (s *Server) IPRestrictionsChanged(ctx context.Context, accountID string) {
	if s.ipr == nil {
		return
	}
	if err := s.ipr.Reload(ctx, accountID); err != nil {
		s.log.Error("reload ip restrictions", "account_id", accountID, "err", err)
		return
	}
	s.mu.Lock()
	edges := make([]*edgeConn, 0, len(s.edges))
	for _, ec := range s.edges {
		edges = append(edges, ec)
	}
	s.mu.Unlock()
	for _, ec := range edges {
		if err := s.pushIPPolicies(ctx, ec, false, []string{accountID}); err != nil {
			s.log.Warn("push endpoint ip restriction", "edge_id", ec.hello.EdgeID, "account_id", accountID, "err", err)
		}
	}
	s.revokeDeniedAgents(ctx, accountID)
}

// revokeDeniedAgents disconnects the account's live agents (on edges of this replica) that its
// enforced agent restriction denies.
func (s *Server) revokeDeniedAgents(ctx context.Context, accountID string) {
	comp, err := s.ipr.Restriction(ctx, accountID, ippolicy.TypeAgent)
	if err != nil {
		s.log.Error("read agent ip restriction", "account_id", accountID, "err", err)
		return
	}
	if comp == nil || !comp.Restriction.Enforced {
		return
	}
	rows, err := s.store.db.Query(ctx, `select id, edge_id, ip from tunnel_sessions where account_id = $1`, accountID)
	if err != nil {
		s.log.Error("list sessions for agent ip restriction", "account_id", accountID, "err", err)
		return
	}
	type live struct{ id, edge, ip string }
	var sessions []live
	for rows.Next() {
		var l live
		if err := rows.Scan(&l.id, &l.edge, &l.ip); err != nil {
			rows.Close()
			s.log.Error("list sessions for agent ip restriction", "account_id", accountID, "err", err)
			return
		}
		sessions = append(sessions, l)
	}
	rows.Close()
	for _, l := range sessions {
		ec := s.edge(l.edge)
		if ec == nil {
			continue // another replica holds that edge and acts on the same notification
		}
		ip, _ := ipmatch.ParseAddr(l.ip)
		d := comp.Decide(ip)
		if d.Allowed {
			continue
		}
		reason := fmt.Sprintf("its IP %s is no longer allowed by the account's agent IP restriction %s: %s (%s)",
			ip, comp.Restriction.ID, explainDecision(comp, d), proto.CodeAgentIPBlocked)
		s.log.Info("disconnecting agent denied by agent ip restriction", "account_id", accountID, "session_id", l.id,
			"client_ip", ip.String(), "ip_restriction_id", comp.Restriction.ID, "ip_policy_rule_id", d.Rule.ID)
		go func(id string) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			var res proto.CommandResult
			if err := proto.Call(cctx, ec.mux, proto.TypeSessionCommand,
				proto.SessionCommand{SessionID: id, Action: proto.ActionRevoke, Reason: reason}, &res); err != nil {
				s.log.Warn("disconnect agent denied by ip restriction", "session_id", id, "err", err)
			}
		}(l.id)
	}
}

// listenIPChanges applies every announced restriction change until ctx ends.
func (s *Server) listenIPChanges(ctx context.Context) {
	var once bool
	for ctx.Err() == nil {
		err := s.listenIPChangesOnce(ctx, func() {
			if !once {
				once = true
				close(s.ipReady)
			}
		})
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("ip restriction listener lost its connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		// Changes may have been missed meanwhile: forget every account, and re-send to the edges.
		s.resyncIPPolicies(ctx)
	}
}

func (s *Server) listenIPChangesOnce(ctx context.Context, ready func()) error {
	pc, err := s.relay.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "listen "+IPRestrictionsChannel); err != nil {
		return err
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		// One at a time, in order: a later change is never overtaken by an earlier one.
		s.IPRestrictionsChanged(ctx, n.Payload)
	}
}

// resyncIPPolicies re-applies the restrictions of every account with live sessions on the edges
// of this replica.
func (s *Server) resyncIPPolicies(ctx context.Context) {
	rows, err := s.store.db.Query(ctx, `select distinct account_id from tunnel_sessions`)
	if err != nil {
		return
	}
	var accounts []string
	for rows.Next() {
		var a string
		if rows.Scan(&a) == nil {
			accounts = append(accounts, a)
		}
	}
	rows.Close()
	for _, a := range accounts {
		s.IPRestrictionsChanged(ctx, a)
	}
}

// edgeAccounts lists the distinct accounts of a snapshot's sessions.
func edgeAccounts(snap proto.EdgeSnapshot) []string {
	seen := map[string]bool{}
	var out []string
	for _, si := range snap.Sessions {
		if si.AccountID != "" && !seen[si.AccountID] {
			seen[si.AccountID] = true
			out = append(out, si.AccountID)
		}
	}
	return out
}
