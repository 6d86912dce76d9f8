package frontend

import "context"

type permissionsKey struct{}

// WithPermissions returns ctx carrying the viewer's permissions ("agents:write" -> true), which
// components read through Can to hide what the viewer may not do. The server still refuses it.
func WithPermissions(ctx context.Context, perms map[string]bool) context.Context {
	return context.WithValue(ctx, permissionsKey{}, perms)
}

// Can reports whether the viewer holds perm. Without permission information (a component rendered
// outside a request) everything is shown: hiding is a courtesy, refusing is the server's job.
func Can(ctx context.Context, perm string) bool {
	perms, ok := ctx.Value(permissionsKey{}).(map[string]bool)
	return !ok || perms[perm]
}

// SectionPermissions names the permission each navigation section needs to be shown.
var SectionPermissions = map[string]string{
	"agents":          "agents:read",
	"endpoints":       "endpoints:read",
	"authtokens":      "credentials:read",
	"api-keys":        "api_keys:read",
	"team":            "team:read",
	"ip-restrictions": "ip_policies:read",
	"events":          "events:read",
	"billing":         "billing:read",
}

// showSection reports whether the viewer may open s.
func showSection(ctx context.Context, s Section) bool {
	perm, ok := SectionPermissions[s.Key]
	return !ok || Can(ctx, perm)
}
