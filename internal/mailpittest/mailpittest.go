// Package mailpittest runs the real local mail server (mailpit) for tests
// and reads back what it received through its HTTP API.
package mailpittest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// FreeAddr returns a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start starts mailpit on free ports for the test and returns its SMTP
// address and API base URL once both answer. The test is skipped when
// mailpit is not installed (make test installs it into .tools/bin).
func Start(t testing.TB) (smtpAddr, apiURL string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "bin", "mailpit")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("mailpit"); err != nil {
			t.Skip("mailpit is not installed (make test installs it into .tools/bin)")
		}
	}
	smtpAddr, httpAddr := FreeAddr(t), FreeAddr(t)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(t.TempDir(), "mail.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check", "--quiet")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	apiURL = "http://" + httpAddr
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get(apiURL + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", smtpAddr); err == nil {
				c.Close()
				return smtpAddr, apiURL
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Message is a message as mailpit lists it; Text is filled by Messages
// when asked for bodies.
type Message struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	Text    string
}

// Messages returns every message mailpit holds, newest first, with their
// text bodies when withText is set (one more request per message).
func Messages(t testing.TB, apiURL string, withText bool) []Message {
	t.Helper()
	get := func(path string, v any) {
		resp, err := http.Get(apiURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var list struct{ Messages []Message }
	get("/api/v1/messages", &list)
	if withText {
		for i := range list.Messages {
			get("/api/v1/message/"+list.Messages[i].ID, &list.Messages[i])
		}
	}
	return list.Messages
}
