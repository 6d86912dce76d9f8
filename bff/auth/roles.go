package auth

import (
	"fmt"
	"slices"
)

// Role strings stored in memberships.roles. RoleAdmin is declared with the service.
// A member who is not an administrator holds exactly one developer role, at most one team role
// (none: no access to the Team page), and RoleBillingAccess or not (billing "none"). An
// administrator holds RoleAdmin alone.
const (
	RoleDeveloperReadWrite = "developer_read_write"
	RoleDeveloperReadOnly  = "developer_read_only"
	RoleTeamManager        = "team_manager"
	RoleTeamInviteOnly     = "team_invite_only"
	RoleTeamReadOnly       = "team_read_only"
	RoleBillingAccess      = "billing_access"
)

// Roles lists every role string, administrator first.
var Roles = []string{RoleAdmin, RoleDeveloperReadWrite, RoleDeveloperReadOnly, RoleTeamManager,
	RoleTeamInviteOnly, RoleTeamReadOnly, RoleBillingAccess}

// RoleLabels are the names people see, as in the reference.
var RoleLabels = map[string]string{
	RoleAdmin:              "Administrator",
	RoleDeveloperReadWrite: "Developer: read-write",
	RoleDeveloperReadOnly:  "Developer: read-only",
	RoleTeamManager:        "Team: manager",
	RoleTeamInviteOnly:     "Team: invite-only",
	RoleTeamReadOnly:       "Team: read-only",
	RoleBillingAccess:      "Billing: access",
}

// RoleChoice is what a role form sends: administrator, or one choice per category.
type RoleChoice struct {
	Admin     bool
	Developer string // "read_write" or "read_only"
	Team      string // "manager", "invite_only", "read_only" or "none"
	Billing   bool
}

// Roles returns the role strings of the choice, or an error naming what is wrong.
func (c RoleChoice) Roles() ([]string, error) {
	if c.Admin {
		return []string{RoleAdmin}, nil
	}
	var out []string
	switch c.Developer {
	case "read_write":
		out = append(out, RoleDeveloperReadWrite)
	case "read_only", "":
		out = append(out, RoleDeveloperReadOnly)
	default:
		return nil, fmt.Errorf("developer access must be read_write or read_only, not %q", c.Developer)
	}
	switch c.Team {
	case "manager":
		out = append(out, RoleTeamManager)
	case "invite_only":
		out = append(out, RoleTeamInviteOnly)
	case "read_only":
		out = append(out, RoleTeamReadOnly)
	case "none", "":
	default:
		return nil, fmt.Errorf("team access must be manager, invite_only, read_only or none, not %q", c.Team)
	}
	if c.Billing {
		out = append(out, RoleBillingAccess)
	}
	return out, nil
}

// ChoiceOf is the inverse of RoleChoice.Roles, for pre-filling forms.
func ChoiceOf(roles []string) RoleChoice {
	c := RoleChoice{Admin: slices.Contains(roles, RoleAdmin), Developer: "read_only", Team: "none",
		Billing: slices.Contains(roles, RoleBillingAccess)}
	if slices.Contains(roles, RoleDeveloperReadWrite) {
		c.Developer = "read_write"
	}
	switch {
	case slices.Contains(roles, RoleTeamManager):
		c.Team = "manager"
	case slices.Contains(roles, RoleTeamInviteOnly):
		c.Team = "invite_only"
	case slices.Contains(roles, RoleTeamReadOnly):
		c.Team = "read_only"
	}
	return c
}

// ValidRoles reports whether roles is a combination a membership may hold.
func ValidRoles(roles []string) bool {
	if len(roles) == 0 {
		return false
	}
	got, err := ChoiceOf(roles).Roles()
	if err != nil {
		return false
	}
	return slices.Equal(sorted(got), sorted(roles))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
