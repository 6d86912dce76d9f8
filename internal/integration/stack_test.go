// Package integration runs the real processes (devstack with PostgreSQL, the bff and edges, and
// agents) over real sockets and checks the tunnels and the control plane end to end.
package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/devstack"
)

var (
	binDir string
	stack  devstack.Ready
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgeway-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", binDir+"/", "github.com/edgeway/edgeway/cmd/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	ready := filepath.Join(dir, "ready.json")
	logf, _ := os.Create(filepath.Join(dir, "devstack.log"))
	ds := exec.Command(filepath.Join(binDir, "devstack"), "-ephemeral", "-bin", binDir, "-regions", "us,eu", "-mailpit", "-", "-ready-file", ready)
	ds.Env = append(os.Environ(), "DATABASE_URL=")
	ds.Stdout, ds.Stderr = logf, logf
	ds.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ds.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	defer func() {
		_ = ds.Process.Signal(syscall.SIGTERM)
		_ = ds.Wait()
	}()
	deadline := time.Now().Add(120 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && json.Unmarshal(b, &stack) == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			fmt.Fprintf(os.Stderr, "devstack did not become ready:\n%s\n", log)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	code := m.Run()
	if code != 0 {
		log, _ := os.ReadFile(logf.Name())
		fmt.Fprintf(os.Stderr, "--- devstack log (tail) ---\n%s\n", tail(string(log), 60))
	}
	return code
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// account is a fresh account signed up through the dashboard, with an API key.
type account struct {
	t   testing.TB
	key string
	jar http.CookieJar // the signed-in dashboard session
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func newAccount(t testing.TB) *account {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		resp, err := c.Get(stack.DashboardURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	tok := csrfRe.FindStringSubmatch(get("/signup"))[1]
	email := fmt.Sprintf("it-%d@example.com", time.Now().UnixNano())
	resp, err := c.PostForm(stack.DashboardURL+"/signup", url.Values{"_csrf": {tok}, "account_name": {"Itest"}, "name": {"It"},
		"email": {email}, "password": {"integration-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok = csrfRe.FindStringSubmatch(get("/api-keys"))[1]
	req, _ := http.NewRequest("POST", stack.DashboardURL+"/api-keys", strings.NewReader("description=itest"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", tok)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(ewk_[A-Za-z0-9_-]+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no API key in %s", b)
	}
	return &account{t: t, key: m[1], jar: jar}
}

// api calls the API and decodes the JSON answer into out (when not nil); it returns the status.
func (a *account) api(method, path, body string, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, stack.APIURL+path, r)
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Edgeway-Version", "2")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (a *account) authtoken(acl ...string) (id, token string) {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"description": "itest", "acl": append([]string{}, acl...)})
	var cr struct{ ID, Token string }
	if s := a.api("POST", "/credentials", string(body), &cr); s != 201 {
		a.t.Fatalf("create credential: %d", s)
	}
	return cr.ID, cr.Token
}

// agentProc is a running agent process whose output is watched.
type agentProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	code int
}

func edgesFlag() string {
	var parts []string
	for _, e := range stack.Edges {
		parts = append(parts, e.Region+"="+e.AgentAddr)
	}
	return strings.Join(parts, ",")
}

func startAgent(t testing.TB, token string, args ...string) *agentProc {
	t.Helper()
	full := append(args, "--authtoken", token, "--edges", edgesFlag(), "--ca", stack.CAFile)
	if !strings.Contains(strings.Join(args, " "), "--config") {
		full = append(full, "--config", filepath.Join(t.TempDir(), "agent.yml"))
	}
	a := &agentProc{t: t, cmd: exec.Command(filepath.Join(binDir, "agent"), full...), done: make(chan struct{})}
	pr, pw := io.Pipe()
	a.cmd.Stdout, a.cmd.Stderr = pw, pw
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			a.mu.Lock()
			a.out.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
		}
	}()
	go func() {
		_ = a.cmd.Wait()
		a.code = a.cmd.ProcessState.ExitCode()
		pw.Close()
		<-scanned
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent output:\n%s", a.output())
		}
	})
	return a
}

func (a *agentProc) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// waitFor waits until the agent's output matches re (after skipping `after` earlier matches)
// and returns the match's first group.
func (a *agentProc) waitFor(re string, nth int) string {
	a.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ms := rx.FindAllStringSubmatch(a.output(), -1); len(ms) > nth {
			return ms[nth][len(ms[nth])-1]
		}
		select {
		case <-a.done:
			if ms := rx.FindAllStringSubmatch(a.output(), -1); len(ms) > nth {
				return ms[nth][len(ms[nth])-1]
			}
			a.t.Fatalf("agent exited (%d) before printing %q:\n%s", a.code, re, a.output())
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("agent never printed %q:\n%s", re, a.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *agentProc) waitExit(within time.Duration) int {
	a.t.Helper()
	select {
	case <-a.done:
		return a.code
	case <-time.After(within):
		a.t.Fatalf("agent still running after %s:\n%s", within, a.output())
		return -1
	}
}

// localServer serves a fixed body and returns its port.
func localServer(t testing.TB, body string) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s xff=%s", body, r.Header.Get("X-Forwarded-For"))
	})}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	_, port, _ := strings.Cut(ln.Addr().String(), ":")
	return port
}

// through sends a request through the edge of region to the tunnel at publicURL.
func through(t *testing.T, publicURL string) (int, string) {
	t.Helper()
	u, err := url.Parse(publicURL)
	if err != nil {
		t.Fatal(err)
	}
	var edgeAddr string
	for _, e := range stack.Edges {
		if strings.HasSuffix(u.Hostname(), "."+e.BaseDomain) {
			edgeAddr = e.HTTPAddr
		}
	}
	req, _ := http.NewRequest("GET", "http://"+edgeAddr+"/", nil)
	req.Host = u.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
