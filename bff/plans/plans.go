// Package plans holds the plans an account may be on (free, pro, enterprise), every limit of
// each in one place, the account's current usage, and the checks other domains call before they
// create something a plan limits (plans.Service.Check).
package plans

import (
	"fmt"
	"net/http"

	"github.com/edgeway/edgeway/bff/httperr"
)

// Plan names, as stored in accounts.plan.
const (
	Free       = "free"
	Pro        = "pro"
	Enterprise = "enterprise"
)

// Limit names a counted resource; the names are the JSON keys of GET /account.
type Limit string

// The limits every plan sets.
const (
	Users              Limit = "users"               // members plus pending invitations; billing contacts never count
	AgentSessions      Limit = "agent_sessions"      // agent sessions online at once
	ReservedDomains    Limit = "reserved_domains"    // reserved domains, all regions
	ReservedAddrs      Limit = "reserved_addrs"      // reserved TCP addresses, all regions
	IPPolicies         Limit = "ip_policies"         // reusable IP policies
	IPRestrictions     Limit = "ip_restrictions"     // IP restrictions (at most one per type)
	EventSubscriptions Limit = "event_subscriptions" // event subscriptions
	BillingContacts    Limit = "billing_contacts"    // extra billing email addresses
)

// Limits lists every limit in display order.
var Limits = []Limit{Users, AgentSessions, ReservedDomains, ReservedAddrs, IPPolicies, IPRestrictions,
	EventSubscriptions, BillingContacts}

// LimitLabels are the names people read.
var LimitLabels = map[Limit]string{
	Users:              "Team members",
	AgentSessions:      "Agent sessions online",
	ReservedDomains:    "Reserved domains",
	ReservedAddrs:      "Reserved TCP addresses",
	IPPolicies:         "IP policies",
	IPRestrictions:     "IP restrictions",
	EventSubscriptions: "Event subscriptions",
	BillingContacts:    "Billing contacts",
}

// Plan is a plan's name, what it costs and its limits.
type Plan struct {
	Name   string
	Label  string
	Price  string // shown on the Billing page
	Paid   bool   // team members and role-based access need a paid plan
	Limits map[Limit]int
}

// Plans are the plans in upgrade order. This is the one place their limits are set.
var Plans = []Plan{
	{Name: Free, Label: "Free", Price: "$0", Limits: map[Limit]int{
		Users: 1, AgentSessions: 3, ReservedDomains: 1, ReservedAddrs: 1, IPPolicies: 2, IPRestrictions: 1,
		EventSubscriptions: 1, BillingContacts: 1}},
	{Name: Pro, Label: "Pro", Price: "$20 per month", Paid: true, Limits: map[Limit]int{
		Users: 10, AgentSessions: 20, ReservedDomains: 10, ReservedAddrs: 10, IPPolicies: 20, IPRestrictions: 4,
		EventSubscriptions: 10, BillingContacts: 5}},
	{Name: Enterprise, Label: "Enterprise", Price: "Contact sales", Paid: true, Limits: map[Limit]int{
		Users: 500, AgentSessions: 1000, ReservedDomains: 500, ReservedAddrs: 500, IPPolicies: 200, IPRestrictions: 4,
		EventSubscriptions: 100, BillingContacts: 20}},
}

// Get returns the plan called name.
func Get(name string) (Plan, bool) {
	for _, p := range Plans {
		if p.Name == name {
			return p, true
		}
	}
	return Plan{}, false
}

// MustGet returns the plan called name, or Free for a name it does not know.
func MustGet(name string) Plan {
	if p, ok := Get(name); ok {
		return p
	}
	return Plans[0]
}

// NextWith returns the cheapest plan above current that allows more than n of l, if any.
func NextWith(current string, l Limit, n int) (Plan, bool) {
	seen := false
	for _, p := range Plans {
		if seen && p.Limits[l] > n {
			return p, true
		}
		if p.Name == current {
			seen = true
		}
	}
	return Plan{}, false
}

// LimitError is the refusal when an account is at a limit: it names the limit, the plan, the
// numbers, and what to do.
func LimitError(plan string, l Limit, used int) *httperr.Error {
	p := MustGet(plan)
	max := p.Limits[l]
	msg := fmt.Sprintf("Plan limit reached: the %s plan allows %d %s and the account has %d.", p.Label, max,
		lowerLabel(l), used)
	if next, ok := NextWith(p.Name, l, max); ok {
		msg += fmt.Sprintf(" Upgrade to %s for %d, or remove one first.", next.Label, next.Limits[l])
	} else {
		msg += " Remove one first."
	}
	e := httperr.New(http.StatusPaymentRequired, httperr.CodePlanLimit, msg)
	e.Details = map[string]any{"limit": string(l), "plan": p.Name, "max": max, "used": used}
	return e
}

// PaidPlanRequired is the refusal of a feature the free plan does not have.
func PaidPlanRequired(feature string) *httperr.Error {
	e := httperr.New(http.StatusPaymentRequired, httperr.CodePaidPlanRequired,
		fmt.Sprintf("%s needs a paid plan. Upgrade to Pro on the Billing page.", feature))
	e.Details = map[string]any{"feature": feature}
	return e
}

func lowerLabel(l Limit) string {
	switch l {
	case Users:
		return "team members"
	case AgentSessions:
		return "agent sessions online"
	case IPPolicies:
		return "IP policies"
	case IPRestrictions:
		return "IP restrictions"
	case ReservedAddrs:
		return "reserved TCP addresses"
	}
	s := LimitLabels[l]
	if s == "" {
		return string(l)
	}
	return string(s[0]|0x20) + s[1:]
}
