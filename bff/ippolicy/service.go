// Package ippolicy manages IP policies (reusable sets of allow/deny CIDR rules), IP restrictions
// (the policies that guard the dashboard, the API, agents and endpoints of an account), their
// enforcement on the dashboard and API listeners, and the way back in for an administrator who
// locked themselves out: a self-lockout confirmation before saving, and single-use recovery links
// sent by email (or printed by `bff recover`).
//
// Decisions follow package ipmatch: the most specific matching rule decides, deny wins a tie, an
// address that matches nothing is denied once a restriction of that type exists, and a
// restriction with enforced=false only warns.
package ippolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Restriction types.
const (
	TypeDashboard = "dashboard"
	TypeAPI       = "api"
	TypeAgent     = "agent"
	TypeEndpoints = "endpoints"
)

// Types lists the restriction types in the order the dashboard shows them.
var Types = []string{TypeDashboard, TypeAPI, TypeAgent, TypeEndpoints}

// MaxPoliciesPerRestriction bounds ip_policy_ids.
const MaxPoliciesPerRestriction = 50

// Limits checks the account's plan limits (plans.Service) on db, the transaction that adds the
// policy or restriction, so concurrent creates cannot together exceed a limit.
type Limits interface {
	CheckTx(ctx context.Context, db pg.DB, accountID string, l plans.Limit) error
}

// Service implements the rules of IP policies and restrictions.
type Service struct {
	log    *slog.Logger
	db     pg.DB
	store  *Store
	cache  *Cache
	limits Limits
}

// NewService returns a Service on db; cache (shared with the enforcing middleware) is
// invalidated on every change. limits enforces the plans' ip_policies and ip_restrictions limits
// (nil: no limits, for tests). A recovery link's policy is never refused: getting back in must
// not depend on the plan.
func NewService(log *slog.Logger, db pg.DB, cache *Cache, limits Limits) *Service {
	return &Service{log: log, db: db, store: NewStore(db), cache: cache, limits: limits}
}

// checkLimit refuses, with an error naming the limit, when the account already has as many of l
// as its plan allows. st is on the creating transaction: the check locks the account row until
// it ends, so concurrent creates cannot both take the last one.
func (s *Service) checkLimit(ctx context.Context, st *Store, accountID string, l plans.Limit) error {
	if s.limits == nil {
		return nil
	}
	return s.limits.CheckTx(ctx, st.db, accountID, l)
}

// Cache returns the compiled restrictions the service keeps current.
func (s *Service) Cache() *Cache { return s.cache }

// SelfCheck asks a change to refuse, unless Confirmed, when it would make the enforced dashboard
// restriction deny IP (the address of the person saving). The zero value checks nothing (the
// API: its caller is not necessarily at a dashboard).
type SelfCheck struct {
	IP        netip.Addr
	Confirmed bool
}

// Lockout explains why a change would block the person making it.
type Lockout struct {
	IP            netip.Addr
	RestrictionID string
	Decision      ipmatch.Decision
	PolicyName    string // description or ID of the deciding rule's policy
}

// Error implements error.
func (l *Lockout) Error() string { return l.Message() }

// Message is the explanation shown next to the confirmation.
func (l *Lockout) Message() string {
	if !l.Decision.Matched {
		return fmt.Sprintf("Saving this would block you from the dashboard: your IP address %s matches no rule of the dashboard restriction %s, and an address that no rule matches is denied.",
			l.IP, l.RestrictionID)
	}
	r := l.Decision.Rule
	return fmt.Sprintf("Saving this would block you from the dashboard: your IP address %s is denied by the rule %q (%s %s) of policy %s in the dashboard restriction %s.",
		l.IP, r.ID, r.Action, r.Prefix, l.PolicyName, l.RestrictionID)
}

// AsLockout returns the Lockout behind err, if any.
func AsLockout(err error) (*Lockout, bool) {
	var l *Lockout
	ok := errors.As(err, &l)
	return l, ok
}

// change runs fn in a transaction, then refuses it (rolling back) when it would lock the person
// out and they have not confirmed. Committed changes invalidate the cache.
func (s *Service) change(ctx context.Context, accountID string, sc SelfCheck, fn func(st *Store) error) error {
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		st := NewStore(tx)
		if err := fn(st); err != nil {
			return err
		}
		return s.checkSelf(ctx, st, accountID, sc)
	})
	if err == nil {
		s.cache.Invalidate(accountID)
	}
	return err
}

func (s *Service) checkSelf(ctx context.Context, st *Store, accountID string, sc SelfCheck) error {
	if !sc.IP.IsValid() || sc.Confirmed {
		return nil
	}
	r, err := st.RestrictionByType(ctx, accountID, TypeDashboard)
	if errors.Is(err, pg.ErrNotFound) || (err == nil && !r.Enforced) {
		return nil
	}
	if err != nil {
		return httperr.Internal(err)
	}
	rules, err := st.RulesOfPolicies(ctx, accountID, r.PolicyIDs)
	if err != nil {
		return httperr.Internal(err)
	}
	ip := ipmatch.NormalizeAddr(sc.IP)
	d := ipmatch.Compile(matchRules(rules)).Decide(ip)
	if d.Allowed {
		return nil
	}
	l := &Lockout{IP: ip, RestrictionID: r.ID, Decision: d, PolicyName: d.Rule.PolicyID}
	if d.Matched {
		if p, err := st.GetPolicy(ctx, accountID, d.Rule.PolicyID); err == nil && p.Description != "" {
			l.PolicyName = fmt.Sprintf("%s (%q)", p.ID, p.Description)
		}
	}
	e := httperr.Wrap(l, http.StatusConflict, httperr.CodeIPSelfLockout, l.Message()+" Confirm to save it anyway.")
	e.Details = map[string]any{"client_ip": ip.String(), "ip_restriction_id": r.ID, "ip_policy_id": d.Rule.PolicyID, "ip_policy_rule_id": d.Rule.ID}
	return e
}

// Audit event types of this package (the reference's names).
const (
	EventPolicyCreated      = "ip_policy_created.v0"
	EventPolicyUpdated      = "ip_policy_updated.v0"
	EventPolicyDeleted      = "ip_policy_deleted.v0"
	EventRuleCreated        = "ip_policy_rule_created.v0"
	EventRuleUpdated        = "ip_policy_rule_updated.v0"
	EventRuleDeleted        = "ip_policy_rule_deleted.v0"
	EventRestrictionCreated = "ip_restriction_created.v0"
	EventRestrictionUpdated = "ip_restriction_updated.v0"
	EventRestrictionDeleted = "ip_restriction_deleted.v0"
)

// record writes the audit event of a change in its transaction (st is on the transaction).
func record(ctx context.Context, st *Store, p web.Principal, event, objectID string, object any) error {
	if err := audit.Write(ctx, st.db, p, event, objectID, object); err != nil {
		return httperr.Internal(err)
	}
	return nil
}

// logChange logs a committed change with stable keys.
func (s *Service) logChange(ctx context.Context, p web.Principal, event, objectID string, attrs ...any) {
	s.log.InfoContext(ctx, "audit", append([]any{"event_type", event, "account_id", p.AccountID, "user_id", p.UserID,
		"source", p.Source, "api_key_id", p.APIKeyID, "object_id", objectID}, attrs...)...)
}

func policyObject(p Policy) map[string]any {
	return map[string]any{"id": p.ID, "description": p.Description, "metadata": p.Metadata, "created_at": p.CreatedAt}
}

func ruleObject(r Rule) map[string]any {
	return map[string]any{"id": r.ID, "ip_policy": map[string]string{"id": r.PolicyID}, "cidr": r.CIDR, "action": r.Action,
		"description": r.Description, "metadata": r.Metadata, "created_at": r.CreatedAt}
}

func restrictionObject(r Restriction) map[string]any {
	return map[string]any{"id": r.ID, "type": r.Type, "enforced": r.Enforced, "ip_policy_ids": r.PolicyIDs,
		"description": r.Description, "metadata": r.Metadata, "created_at": r.CreatedAt}
}

// PolicyInput is what policy create and update accept; nil fields are left unchanged on update.
type PolicyInput struct {
	Description *string
	Metadata    *string
}

func fieldsError(what string, errs map[string]string) error {
	if len(errs) > 0 {
		return httperr.Validation(fmt.Sprintf("The %s could not be saved.", what), errs)
	}
	return nil
}

// CreatePolicy makes a policy with no rules (which matches no address).
func (s *Service) CreatePolicy(ctx context.Context, p web.Principal, in PolicyInput) (Policy, error) {
	if err := fieldsError("IP policy", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Policy{}, err
	}
	var pol Policy
	err := s.change(ctx, p.AccountID, SelfCheck{}, func(st *Store) error {
		if err := s.checkLimit(ctx, st, p.AccountID, plans.IPPolicies); err != nil {
			return err
		}
		var err error
		pol, err = st.CreatePolicy(ctx, Policy{ID: ids.New(ids.IPPolicy), AccountID: p.AccountID,
			Description: deref(in.Description), Metadata: deref(in.Metadata)})
		if err != nil {
			return httperr.Internal(err)
		}
		return record(ctx, st, p, EventPolicyCreated, pol.ID, policyObject(pol))
	})
	if err != nil {
		return Policy{}, err
	}
	s.logChange(ctx, p, EventPolicyCreated, pol.ID)
	return pol, nil
}

// ListPolicies returns a page of the account's policies.
func (s *Service) ListPolicies(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Policy, error) {
	ps, err := s.store.ListPolicies(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return ps, nil
}

// GetPolicy returns one policy.
func (s *Service) GetPolicy(ctx context.Context, p web.Principal, id string) (Policy, error) {
	pol, err := s.store.GetPolicy(ctx, p.AccountID, id)
	return pol, notFound(err, "IP policy", id)
}

// UpdatePolicy changes a policy's description or metadata.
func (s *Service) UpdatePolicy(ctx context.Context, p web.Principal, id string, in PolicyInput) (Policy, error) {
	if err := fieldsError("IP policy", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Policy{}, err
	}
	var pol Policy
	err := s.change(ctx, p.AccountID, SelfCheck{}, func(st *Store) error {
		var err error
		if pol, err = st.UpdatePolicy(ctx, p.AccountID, id, in.Description, in.Metadata); err != nil {
			return notFound(err, "IP policy", id)
		}
		return record(ctx, st, p, EventPolicyUpdated, id, policyObject(pol))
	})
	if err != nil {
		return Policy{}, err
	}
	s.logChange(ctx, p, EventPolicyUpdated, id)
	return pol, nil
}

// DeletePolicy removes a policy and its rules, unless a restriction uses it (1420).
func (s *Service) DeletePolicy(ctx context.Context, p web.Principal, id string) error {
	err := s.change(ctx, p.AccountID, SelfCheck{}, func(st *Store) error {
		if using, err := st.RestrictionsUsing(ctx, id); err != nil {
			return httperr.Internal(err)
		} else if len(using) > 0 {
			return ErrInUse
		}
		if err := st.DeletePolicy(ctx, p.AccountID, id); err != nil {
			return err
		}
		return record(ctx, st, p, EventPolicyDeleted, id, map[string]any{"id": id})
	})
	if errors.Is(err, ErrInUse) || isFKViolation(err) { // the latter: attached concurrently
		using, _ := s.store.RestrictionsUsing(ctx, id)
		e := httperr.New(http.StatusConflict, httperr.CodeIPPolicyInUse,
			fmt.Sprintf("IP policy %s is used by the IP restriction %s. Remove it from the restriction first.", id, strings.Join(using, ", ")))
		e.Details = map[string]any{"ip_restriction_ids": using}
		return e
	}
	if err := notFound(err, "IP policy", id); err != nil {
		return err
	}
	s.logChange(ctx, p, EventPolicyDeleted, id)
	return nil
}

// RuleInput is what rule create and update accept; nil fields are left unchanged on update.
// PolicyID and Action are taken on create only.
type RuleInput struct {
	PolicyID    string
	CIDR        *string
	Action      *string
	Description *string
	Metadata    *string
}

// ParseRuleCIDR validates a rule's CIDR with the reference's codes (1409 with the corrected
// network suggested, 1413 for a missing mask) and returns it normalised.
func ParseRuleCIDR(s string) (string, error) {
	p, err := ipmatch.ParseCIDR(s)
	if err == nil {
		return p.String(), nil
	}
	var pe *ipmatch.Error
	errors.As(err, &pe)
	code := httperr.CodeValidation
	switch pe.Problem {
	case ipmatch.ProblemNotNetwork:
		code = httperr.CodeIPRuleNotNetwork
	case ipmatch.ProblemMissingMask:
		code = httperr.CodeIPRuleMissingMask
	}
	e := httperr.New(http.StatusBadRequest, code, pe.Msg)
	e.Fields = map[string]string{"cidr": pe.Msg}
	if pe.Suggestion != "" {
		e.Details = map[string]any{"suggestion": pe.Suggestion}
	}
	return "", e
}

// ParseRuleAction validates a rule's action (1422).
func ParseRuleAction(s string) (string, error) {
	a, err := ipmatch.ParseAction(s)
	if err != nil {
		e := httperr.New(http.StatusBadRequest, httperr.CodeIPRuleInvalidAction, err.Error())
		e.Fields = map[string]string{"action": err.Error()}
		return "", e
	}
	return string(a), nil
}

// CreateRule adds a rule to a policy.
func (s *Service) CreateRule(ctx context.Context, p web.Principal, sc SelfCheck, in RuleInput) (Rule, error) {
	if in.CIDR == nil {
		return Rule{}, httperr.Validation("The rule needs a CIDR.", map[string]string{"cidr": "A CIDR is required, such as 192.0.2.0/24."})
	}
	cidr, err := ParseRuleCIDR(*in.CIDR)
	if err != nil {
		return Rule{}, err
	}
	action, err := ParseRuleAction(deref(in.Action))
	if err != nil {
		return Rule{}, err
	}
	if err := fieldsError("IP policy rule", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Rule{}, err
	}
	if strings.TrimSpace(in.PolicyID) == "" {
		return Rule{}, httperr.Validation("The rule needs a policy.", map[string]string{"ip_policy_id": "ip_policy_id is required."})
	}
	r := Rule{ID: ids.New(ids.IPPolicyRule), AccountID: p.AccountID, PolicyID: in.PolicyID, CIDR: cidr, Action: action,
		Description: deref(in.Description), Metadata: deref(in.Metadata)}
	err = s.change(ctx, p.AccountID, sc, func(st *Store) error {
		if _, err := st.GetPolicy(ctx, p.AccountID, in.PolicyID); err != nil {
			return notFound(err, "IP policy", in.PolicyID)
		}
		created, err := st.CreateRule(ctx, r)
		if errors.Is(err, pg.ErrConflict) {
			return duplicate(in.PolicyID, cidr)
		}
		if err != nil {
			return httperr.Internal(err)
		}
		r = created
		return record(ctx, st, p, EventRuleCreated, r.ID, ruleObject(r))
	})
	if err != nil {
		return Rule{}, err
	}
	s.logChange(ctx, p, EventRuleCreated, r.ID, "ip_policy_id", r.PolicyID, "cidr", r.CIDR, "action", r.Action)
	return r, nil
}

func duplicate(policyID, cidr string) error {
	e := httperr.New(http.StatusConflict, httperr.CodeIPRuleDuplicate, fmt.Sprintf("IP policy %s already has a rule for %s.", policyID, cidr))
	e.Fields = map[string]string{"cidr": fmt.Sprintf("This policy already has a rule for %s.", cidr)}
	return e
}

// ListRules returns a page of the account's rules, of one policy when policyID is not "".
func (s *Service) ListRules(ctx context.Context, p web.Principal, policyID, beforeID string, limit int) ([]Rule, error) {
	rs, err := s.store.ListRules(ctx, p.AccountID, policyID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return rs, nil
}

// GetRule returns one rule.
func (s *Service) GetRule(ctx context.Context, p web.Principal, id string) (Rule, error) {
	r, err := s.store.GetRule(ctx, p.AccountID, id)
	return r, notFound(err, "IP policy rule", id)
}

// UpdateRule changes a rule's CIDR, description or metadata; its action is fixed at creation.
func (s *Service) UpdateRule(ctx context.Context, p web.Principal, sc SelfCheck, id string, in RuleInput) (Rule, error) {
	if in.Action != nil {
		e := httperr.New(http.StatusBadRequest, httperr.CodeValidation,
			"A rule's action cannot change. Delete the rule and create one with the other action.")
		e.Fields = map[string]string{"action": "The action is fixed when the rule is created."}
		return Rule{}, e
	}
	if in.CIDR != nil {
		cidr, err := ParseRuleCIDR(*in.CIDR)
		if err != nil {
			return Rule{}, err
		}
		in.CIDR = &cidr
	}
	if err := fieldsError("IP policy rule", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Rule{}, err
	}
	var r Rule
	err := s.change(ctx, p.AccountID, sc, func(st *Store) error {
		var err error
		r, err = st.UpdateRule(ctx, p.AccountID, id, in.CIDR, in.Description, in.Metadata)
		if errors.Is(err, pg.ErrConflict) {
			old, _ := st.GetRule(ctx, p.AccountID, id)
			return duplicate(old.PolicyID, *in.CIDR)
		}
		if err != nil {
			return notFound(err, "IP policy rule", id)
		}
		return record(ctx, st, p, EventRuleUpdated, id, ruleObject(r))
	})
	if err != nil {
		return Rule{}, err
	}
	s.logChange(ctx, p, EventRuleUpdated, id, "cidr", r.CIDR)
	return r, nil
}

// DeleteRule removes a rule, unless it is the only rule of a policy the dashboard restriction
// uses (1419: the policy would then match nothing).
func (s *Service) DeleteRule(ctx context.Context, p web.Principal, sc SelfCheck, id string) error {
	err := s.change(ctx, p.AccountID, sc, func(st *Store) error {
		r, err := st.GetRule(ctx, p.AccountID, id)
		if err != nil {
			return notFound(err, "IP policy rule", id)
		}
		if n, err := st.CountRules(ctx, r.PolicyID); err != nil {
			return httperr.Internal(err)
		} else if n == 1 {
			dash, err := st.RestrictionByType(ctx, p.AccountID, TypeDashboard)
			if err == nil && slices.Contains(dash.PolicyIDs, r.PolicyID) {
				return httperr.New(http.StatusConflict, httperr.CodeIPRuleLastOfDashboard,
					fmt.Sprintf("Rule %s is the only rule of IP policy %s, which the dashboard restriction %s uses. Add another rule first, or remove the policy from the restriction.",
						id, r.PolicyID, dash.ID))
			}
		}
		if err := notFound(st.DeleteRule(ctx, p.AccountID, id), "IP policy rule", id); err != nil {
			return err
		}
		return record(ctx, st, p, EventRuleDeleted, id, map[string]any{"id": id, "ip_policy": map[string]string{"id": r.PolicyID}})
	})
	if err != nil {
		return err
	}
	s.logChange(ctx, p, EventRuleDeleted, id)
	return nil
}

// RestrictionInput is what restriction create and update accept; nil fields are left unchanged
// on update. Type is taken on create only.
type RestrictionInput struct {
	Type        *string
	Enforced    *bool
	PolicyIDs   []string
	Description *string
	Metadata    *string
}

func (s *Service) checkPolicies(ctx context.Context, st *Store, accountID string, in []string) ([]string, error) {
	var out []string
	for _, id := range in {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		e := httperr.New(http.StatusBadRequest, httperr.CodeIPRestrictionNoPolicies, "An IP restriction needs at least one IP policy.")
		e.Fields = map[string]string{"ip_policy_ids": "Choose at least one policy."}
		return nil, e
	}
	if len(out) > MaxPoliciesPerRestriction {
		return nil, httperr.Validation("Too many policies.", map[string]string{"ip_policy_ids": fmt.Sprintf("At most %d policies.", MaxPoliciesPerRestriction)})
	}
	missing, err := st.MissingPolicies(ctx, accountID, out)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	if len(missing) > 0 {
		e := httperr.New(http.StatusBadRequest, httperr.CodeIPRestrictionNoPolicy,
			fmt.Sprintf("IP policy %s does not exist in this account.", strings.Join(missing, ", ")))
		e.Fields = map[string]string{"ip_policy_ids": e.Msg}
		e.Details = map[string]any{"missing_ip_policy_ids": missing}
		return nil, e
	}
	return out, nil
}

// ValidType checks a restriction type (1803).
func ValidType(t string) error {
	if slices.Contains(Types, t) {
		return nil
	}
	e := httperr.New(http.StatusBadRequest, httperr.CodeIPRestrictionTypeInvalid,
		fmt.Sprintf("%q is not a restriction type: use dashboard, api, agent or endpoints.", t))
	e.Fields = map[string]string{"type": e.Msg}
	return e
}

// CreateRestriction makes the account's restriction of a type (one per type).
func (s *Service) CreateRestriction(ctx context.Context, p web.Principal, sc SelfCheck, in RestrictionInput) (Restriction, error) {
	typ := strings.TrimSpace(deref(in.Type))
	if err := ValidType(typ); err != nil {
		return Restriction{}, err
	}
	if err := fieldsError("IP restriction", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Restriction{}, err
	}
	r := Restriction{ID: ids.New(ids.IPRestriction), AccountID: p.AccountID, Type: typ, Enforced: in.Enforced != nil && *in.Enforced,
		Description: deref(in.Description), Metadata: deref(in.Metadata)}
	err := s.change(ctx, p.AccountID, sc, func(st *Store) error {
		var err error
		if r.PolicyIDs, err = s.checkPolicies(ctx, st, p.AccountID, in.PolicyIDs); err != nil {
			return err
		}
		// A second restriction of a type is refused as such, before the plan's count is.
		if existing, err := st.RestrictionByType(ctx, p.AccountID, typ); err == nil {
			return typeTaken(typ, existing.ID)
		}
		if err := s.checkLimit(ctx, st, p.AccountID, plans.IPRestrictions); err != nil {
			return err
		}
		created, err := st.CreateRestriction(ctx, r)
		if errors.Is(err, pg.ErrConflict) {
			existing, _ := st.RestrictionByType(ctx, p.AccountID, typ)
			return typeTaken(typ, existing.ID)
		}
		if err != nil {
			return httperr.Internal(err)
		}
		r = created
		return record(ctx, st, p, EventRestrictionCreated, r.ID, restrictionObject(r))
	})
	if err != nil {
		return Restriction{}, err
	}
	s.logChange(ctx, p, EventRestrictionCreated, r.ID, "type", r.Type, "enforced", r.Enforced, "ip_policy_ids", r.PolicyIDs)
	return r, nil
}

func typeTaken(typ, existingID string) error {
	e := httperr.New(http.StatusConflict, httperr.CodeIPRestrictionTypeTaken,
		fmt.Sprintf("This account already has a %s IP restriction (%s). Change that one instead.", typ, existingID))
	e.Details = map[string]any{"ip_restriction_id": existingID}
	return e
}

// ListRestrictions returns a page of the account's restrictions.
func (s *Service) ListRestrictions(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Restriction, error) {
	rs, err := s.store.ListRestrictions(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return rs, nil
}

// GetRestriction returns one restriction.
func (s *Service) GetRestriction(ctx context.Context, p web.Principal, id string) (Restriction, error) {
	r, err := s.store.GetRestriction(ctx, p.AccountID, id)
	return r, notFound(err, "IP restriction", id)
}

// UpdateRestriction changes enforcement, policies, description or metadata; the type is fixed.
func (s *Service) UpdateRestriction(ctx context.Context, p web.Principal, sc SelfCheck, id string, in RestrictionInput) (Restriction, error) {
	if in.Type != nil {
		e := httperr.New(http.StatusBadRequest, httperr.CodeValidation, "A restriction's type cannot change. Delete it and create one of the other type.")
		e.Fields = map[string]string{"type": "The type is fixed when the restriction is created."}
		return Restriction{}, e
	}
	if err := fieldsError("IP restriction", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Restriction{}, err
	}
	var r Restriction
	err := s.change(ctx, p.AccountID, sc, func(st *Store) error {
		var err error
		policies := in.PolicyIDs
		if policies != nil {
			if policies, err = s.checkPolicies(ctx, st, p.AccountID, policies); err != nil {
				return err
			}
		}
		if r, err = st.UpdateRestriction(ctx, p.AccountID, id, in.Enforced, in.Description, in.Metadata, policies); err != nil {
			return notFound(err, "IP restriction", id)
		}
		return record(ctx, st, p, EventRestrictionUpdated, id, restrictionObject(r))
	})
	if err != nil {
		return Restriction{}, err
	}
	s.logChange(ctx, p, EventRestrictionUpdated, id, "type", r.Type, "enforced", r.Enforced, "ip_policy_ids", r.PolicyIDs)
	return r, nil
}

// DeleteRestriction removes a restriction: that type of traffic is no longer restricted.
func (s *Service) DeleteRestriction(ctx context.Context, p web.Principal, id string) error {
	err := s.change(ctx, p.AccountID, SelfCheck{}, func(st *Store) error {
		if err := notFound(st.DeleteRestriction(ctx, p.AccountID, id), "IP restriction", id); err != nil {
			return err
		}
		return record(ctx, st, p, EventRestrictionDeleted, id, map[string]any{"id": id})
	})
	if err != nil {
		return err
	}
	s.logChange(ctx, p, EventRestrictionDeleted, id)
	return nil
}

// Overview is everything the dashboard page shows.
type Overview struct {
	Policies     []Policy
	Rules        map[string][]Rule // by policy, oldest first
	Restrictions map[string]Restriction
}

// Overview loads the account's policies with their rules and restrictions by type.
func (s *Service) Overview(ctx context.Context, p web.Principal) (Overview, error) {
	o := Overview{Rules: map[string][]Rule{}, Restrictions: map[string]Restriction{}}
	var err error
	if o.Policies, err = s.store.ListPolicies(ctx, p.AccountID, "", 1000); err != nil {
		return o, httperr.Internal(err)
	}
	slices.Reverse(o.Policies)
	var policyIDs []string
	for _, pol := range o.Policies {
		policyIDs = append(policyIDs, pol.ID)
	}
	rules, err := s.store.RulesOfPolicies(ctx, p.AccountID, policyIDs)
	if err != nil {
		return o, httperr.Internal(err)
	}
	for _, r := range rules {
		o.Rules[r.PolicyID] = append(o.Rules[r.PolicyID], r)
	}
	rs, err := s.store.ListRestrictions(ctx, p.AccountID, "", 10)
	if err != nil {
		return o, httperr.Internal(err)
	}
	for _, r := range rs {
		o.Restrictions[r.Type] = r
	}
	return o, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func notFound(err error, what, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("%s %s was not found in this account.", what, id))
	}
	if _, ok := httperr.As(err); ok {
		return err
	}
	if err != nil {
		return httperr.Internal(err)
	}
	return nil
}
