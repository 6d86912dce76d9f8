package policies

import (
	"slices"
	"strings"
	"testing"
)

// roles are every role string a membership may hold.
var roles = []string{"admin", "developer_read_write", "developer_read_only", "team_manager", "team_invite_only",
	"team_read_only", "billing_access"}

// permissions are every (object, action) the policy grants to someone.
var permissions = []string{
	"agents:read", "agents:write", "endpoints:read", "endpoints:write", "credentials:read", "credentials:write",
	"api_keys:read", "api_keys:write", "ip_policies:read", "ip_policies:write", "ip_restrictions:read",
	"ip_restrictions:write", "events:read", "events:write", "team:read", "team:invite", "team:manage",
	"billing:read", "billing:write", "account:read", "account:write",
}

// want is the whole table: for each role, the permissions it has. Everything else is denied.
var want = map[string][]string{
	"admin": permissions,
	"developer_read_write": {"agents:read", "agents:write", "endpoints:read", "endpoints:write", "credentials:read",
		"credentials:write", "api_keys:read", "api_keys:write", "ip_policies:read", "ip_policies:write",
		"ip_restrictions:read", "events:read", "events:write", "account:read"},
	"developer_read_only": {"agents:read", "endpoints:read", "credentials:read", "api_keys:read", "ip_policies:read",
		"ip_restrictions:read", "events:read", "account:read"},
	"team_manager":     {"team:read", "team:invite", "team:manage", "account:read"},
	"team_invite_only": {"team:read", "team:invite", "account:read"},
	"team_read_only":   {"team:read", "account:read"},
	"billing_access":   {"billing:read", "billing:write", "account:read"},
}

func TestEveryRoleAgainstEveryPermission(t *testing.T) {
	e, err := NewEnforcer()
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range append(slices.Clone(roles), "", "nobody", "ADMIN") {
		for _, perm := range permissions {
			t.Run(role+"/"+perm, func(t *testing.T) {
				obj, act, _ := strings.Cut(perm, ":")
				got, err := e.Enforce(role, obj, act)
				if err != nil {
					t.Fatal(err)
				}
				if exp := slices.Contains(want[role], perm); got != exp {
					t.Errorf("Enforce(%q, %q, %q) = %v, want %v", role, obj, act, got, exp)
				}
			})
		}
	}
}

// TestPolicyNamesOnlyKnownRolesAndPermissions keeps policy.csv and the table above in step: a
// typo in the CSV would otherwise silently grant nothing.
func TestPolicyNamesOnlyKnownRolesAndPermissions(t *testing.T) {
	e, err := NewEnforcer()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.GetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !slices.Contains(roles, p[0]) {
			t.Errorf("policy line %v: unknown role %q", p, p[0])
		}
		if perm := p[1] + ":" + p[2]; !slices.Contains(permissions, perm) {
			t.Errorf("policy line %v: unknown permission %q", p, perm)
		}
	}
	gs, err := e.GetGroupingPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		for _, r := range g {
			if !slices.Contains(roles, r) {
				t.Errorf("grouping line %v: unknown role %q", g, r)
			}
		}
	}
	for _, role := range roles {
		if _, ok := want[role]; !ok {
			t.Errorf("role %q missing from the table", role)
		}
	}
}
