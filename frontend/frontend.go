// Package frontend holds the dashboard's templ components (props in, HTML out, no I/O) and the
// embedded static assets (CSS, htmx and its websocket extension, images).
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the files served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// Viewer is the signed-in person the page is rendered for.
type Viewer struct {
	UserID      string
	Email       string
	Name        string
	AccountID   string
	AccountName string
	Plan        string
}

// Page carries what every dashboard page needs.
type Page struct {
	Title  string
	Active string  // the nav section's key, e.g. "agents"
	CSRF   string  // CSRF token for forms and htmx requests
	Viewer *Viewer // nil when signed out
	Flash  string  // one-off notice shown at the top
}

// Section is one entry of the dashboard navigation.
type Section struct {
	Key   string // also the data-testid suffix: nav-<key>
	Path  string
	Label string
	Group string
	Blurb string // what the page will hold; shown while it is empty
}

// Sections lists the navigation in order.
var Sections = []Section{
	{"agents", "/agents", "Agents", "Connect", "Every agent session of the account, live: version, host, region, tunnels, with restart and disconnect."},
	{"endpoints", "/endpoints", "Endpoints", "Connect", "Reserved domains, reserved TCP addresses and edges, each in its region."},
	{"authtokens", "/authtokens", "Authtokens", "Access", "Credentials your agents sign in with: create, restrict with bind rules, revoke."},
	{"api-keys", "/api-keys", "API keys", "Access", "Keys for the Edgeway API: create (shown once), describe, delete."},
	{"team", "/team", "Team", "Access", "Members and their roles, invitations, and who may do what."},
	{"ip-restrictions", "/ip-restrictions", "IP Restrictions", "Security", "IP policies with allow and deny rules, attached to the dashboard, the API, agents and endpoints."},
	{"events", "/events", "Events", "Observe", "Event subscriptions and their AWS destinations, with delivery health."},
	{"billing", "/billing", "Billing", "Account", "Your plan, its limits and usage, and the contacts who receive billing email."},
	{"settings", "/settings", "Settings", "Account", "Account name, your profile and password."},
}

// SectionByKey returns the navigation entry for key.
func SectionByKey(key string) (Section, bool) {
	for _, s := range Sections {
		if s.Key == key {
			return s, true
		}
	}
	return Section{}, false
}

// groups returns the nav groups in order with their sections.
func groups() [][]Section {
	var out [][]Section
	for _, s := range Sections {
		if n := len(out); n > 0 && out[n-1][0].Group == s.Group {
			out[n-1] = append(out[n-1], s)
			continue
		}
		out = append(out, []Section{s})
	}
	return out
}

// htmxConfig keeps htmx from injecting inline styles (the CSP forbids them) and lets it swap
// error responses, which carry a rendered error fragment.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}`

func csrfHeaders(token string) string {
	return `{"X-CSRF-Token":"` + token + `"}`
}
