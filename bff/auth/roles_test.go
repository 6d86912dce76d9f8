package auth

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoleChoice(t *testing.T) {
	tests := []struct {
		name   string
		choice RoleChoice
		want   []string
		ok     bool
	}{
		{"admin ignores the rest", RoleChoice{Admin: true, Developer: "read_write", Billing: true}, []string{RoleAdmin}, true},
		{"defaults are read-only, no team", RoleChoice{}, []string{RoleDeveloperReadOnly}, true},
		{"team read-only", RoleChoice{Team: "read_only"}, []string{RoleDeveloperReadOnly, RoleTeamReadOnly}, true},
		{"everything but admin", RoleChoice{Developer: "read_write", Team: "manager", Billing: true},
			[]string{RoleDeveloperReadWrite, RoleTeamManager, RoleBillingAccess}, true},
		{"invite-only", RoleChoice{Team: "invite_only"}, []string{RoleDeveloperReadOnly, RoleTeamInviteOnly}, true},
		{"bad developer", RoleChoice{Developer: "root"}, nil, false},
		{"bad team", RoleChoice{Team: "owner"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.choice.Roles()
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("roles (-want +got):\n%s", diff)
			}
			if tt.ok {
				if !ValidRoles(got) {
					t.Errorf("ValidRoles(%v) = false", got)
				}
				if back, _ := ChoiceOf(got).Roles(); !cmp.Equal(back, got) {
					t.Errorf("ChoiceOf round trip: %v -> %v", got, back)
				}
			}
		})
	}
	for _, bad := range [][]string{nil, {}, {"root"}, {RoleAdmin, RoleBillingAccess}, {RoleTeamReadOnly},
		{RoleDeveloperReadOnly, RoleDeveloperReadWrite, RoleTeamReadOnly}} {
		if ValidRoles(bad) {
			t.Errorf("ValidRoles(%v) = true", bad)
		}
	}
}
