package live

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func newHub() *Hub { return NewHub(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestPublishReachesOnlyTopic(t *testing.T) {
	h := newHub()
	a, b := h.Subscribe("ac_a"), h.Subscribe("ac_b")
	h.Publish("ac_a", []byte("hello"))
	select {
	case m := <-a.send:
		if string(m) != "hello" {
			t.Fatalf("got %q", m)
		}
	default:
		t.Fatal("subscriber of the topic got nothing")
	}
	select {
	case m := <-b.send:
		t.Fatalf("other topic got %q", m)
	default:
	}
}

// TestSlowConsumerIsDroppedNotWaitedOn: a subscriber that never reads is dropped once its buffer
// is full, and Publish never blocks on it.
func TestSlowConsumerIsDroppedNotWaitedOn(t *testing.T) {
	h := newHub()
	slow := h.Subscribe("ac_a")
	fast := h.Subscribe("ac_a")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < SendBuffer*3; i++ {
			h.Publish("ac_a", []byte("m"))
			<-fast.send
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow consumer")
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow consumer was not dropped")
	}
	if h.Subscribers("ac_a") != 1 || h.Dropped() != 1 {
		t.Fatalf("subscribers=%d dropped=%d, want 1 and 1", h.Subscribers("ac_a"), h.Dropped())
	}
}

func TestWebsocketDeliversFirstThenPublished(t *testing.T) {
	h := newHub()
	up := Upgrader("http://dashboard.example")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.Serve(conn, h.Subscribe("ac_a"), []byte("sync"))
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	// A foreign origin is refused (websockets carry no CSRF token).
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"http://evil.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin accepted: %v", err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := conn.ReadMessage(); err != nil || string(m) != "sync" {
		t.Fatalf("first message %q %v", m, err)
	}
	for h.Subscribers("ac_a") == 0 {
		time.Sleep(time.Millisecond)
	}
	h.Publish("ac_a", []byte("row"))
	if _, m, err := conn.ReadMessage(); err != nil || string(m) != "row" {
		t.Fatalf("published message %q %v", m, err)
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.Subscribers("ac_a") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("closed socket still subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
