// Package live streams server-rendered HTML fragments to browser tabs over websockets: one hub per
// bff process, one websocket per tab, one writer goroutine per socket. Sources publish to the hub,
// never to a socket; a tab that cannot keep up is disconnected (it reconnects and resyncs) rather
// than slowing everyone else down.
package live

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Timing of the websocket keepalive, as in gorilla/websocket's chat example.
const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	maxMessageSize = 4096
	// SendBuffer is how many messages may wait for a slow tab before it is dropped.
	SendBuffer = 64
)

// Hub fans messages out to the subscribers of a topic (an account id).
type Hub struct {
	log *slog.Logger

	mu     sync.RWMutex
	topics map[string]map[*Client]struct{}

	dropped atomic.Int64
}

// NewHub returns an empty Hub.
func NewHub(log *slog.Logger) *Hub {
	return &Hub{log: log.With("component", "live"), topics: map[string]map[*Client]struct{}{}}
}

// Client is one subscribed browser tab.
type Client struct {
	topic string
	send  chan []byte
	once  sync.Once
	done  chan struct{}
}

// Done is closed when the client has been dropped or has left.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) close() { c.once.Do(func() { close(c.done) }) }

// Messages is the client's queue; Serve drains it into the websocket (read it directly only
// when there is no socket, as in tests).
func (c *Client) Messages() <-chan []byte { return c.send }

// Subscribe adds a client to topic. The caller drains Messages (see Serve) and calls Unsubscribe.
func (h *Hub) Subscribe(topic string) *Client {
	c := &Client{topic: topic, send: make(chan []byte, SendBuffer), done: make(chan struct{})}
	h.mu.Lock()
	subs := h.topics[topic]
	if subs == nil {
		subs = map[*Client]struct{}{}
		h.topics[topic] = subs
	}
	subs[c] = struct{}{}
	h.mu.Unlock()
	return c
}

// Unsubscribe removes a client.
func (h *Hub) Unsubscribe(c *Client) {
	h.mu.Lock()
	if subs := h.topics[c.topic]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(h.topics, c.topic)
		}
	}
	h.mu.Unlock()
	c.close()
}

// Publish sends msg to every subscriber of topic without waiting: a subscriber whose buffer is
// full is dropped (its socket closes; the page reconnects and resyncs).
func (h *Hub) Publish(topic string, msg []byte) {
	h.mu.RLock()
	var slow []*Client
	for c := range h.topics[topic] {
		select {
		case c.send <- msg:
		default:
			slow = append(slow, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		h.dropped.Add(1)
		h.log.Warn("dropping slow live client", "topic", c.topic)
		h.Unsubscribe(c)
	}
}

// Subscribers returns how many clients topic has.
func (h *Hub) Subscribers(topic string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics[topic])
}

// Dropped returns how many slow clients were dropped since start.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Upgrader returns a websocket upgrader that accepts only same-origin browsers: a websocket is
// not covered by CSRF tokens, so the Origin header must name this dashboard.
func Upgrader(publicURL string) *websocket.Upgrader {
	allowed := ""
	if u, err := url.Parse(publicURL); err == nil {
		allowed = strings.ToLower(u.Host)
	}
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return false
			}
			u, err := url.Parse(origin)
			if err != nil {
				return false
			}
			host := strings.ToLower(u.Host)
			return host == allowed || host == strings.ToLower(r.Host)
		},
	}
}

// Serve pumps a subscribed client's messages into conn until either side stops. first, when not
// nil, is sent before anything published (the page's initial sync). It closes conn.
func (h *Hub) Serve(conn *websocket.Conn, c *Client, first []byte) {
	defer h.Unsubscribe(c)
	go readPump(conn, c)
	writePump(conn, c, first)
}

// readPump discards what the page sends (htmx may send form values) and notices a closed socket.
func readPump(conn *websocket.Conn, c *Client) {
	defer c.close()
	conn.SetReadLimit(maxMessageSize)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

// writePump is the only writer of conn.
func writePump(conn *websocket.Conn, c *Client, first []byte) {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		_ = conn.Close()
	}()
	write := func(msg []byte) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.TextMessage, msg) == nil
	}
	if first != nil && !write(first) {
		return
	}
	for {
		select {
		case <-c.done:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "resync"))
			return
		case msg := <-c.send:
			if !write(msg) {
				return
			}
		case <-ticker.C:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// Topics returns the topics that start with prefix and have subscribers.
func (h *Hub) Topics(prefix string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []string
	for t := range h.topics {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return out
}
