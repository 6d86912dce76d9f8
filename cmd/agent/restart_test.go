package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMain lets the test binary act as the agent command, so a real
// process can be restarted (re-executed) and stopped remotely.
func TestMain(m *testing.M) {
	if os.Getenv("AGENT_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestRemoteRestartReexecutes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	srv := startEdge(t, "us", 0)
	cmd := exec.Command(os.Args[0], "http", "127.0.0.1:1", "--plaintext", "--authtoken", "tok",
		"--server-addr", srv.AgentAddr().String())
	cmd.Env = append(os.Environ(), "AGENT_TEST_RUN_MAIN=1", "EDGEWAY_CONFIG="+t.TempDir()+"/none.yml")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()

	sessionID := func() string {
		for i := 0; i < 500; i++ {
			if ss := srv.Sessions(); len(ss) == 1 {
				return ss[0].ID
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no single session; output:\n%s", out.String())
		return ""
	}
	first := sessionID()
	if err := srv.RestartSession(context.Background(), first, "restarted by a test"); err != nil {
		t.Fatal(err)
	}
	var second string
	for i := 0; i < 500; i++ {
		if ss := srv.Sessions(); len(ss) == 1 && ss[0].ID != first {
			second = ss[0].ID
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if second == "" {
		t.Fatalf("the agent did not come back with a new session; output:\n%s", out.String())
	}
	select {
	case err := <-done:
		t.Fatalf("the process exited instead of re-executing: %v\n%s", err, out.String())
	default:
	}
	if err := srv.StopSession(context.Background(), second, "done"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after stop: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit after stop")
	}
	waitOutput(t, &out, "restarting on request: restarted by a test")
	waitOutput(t, &out, "stopped remotely: done")
}
