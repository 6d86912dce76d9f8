package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
)

// EventType says what happened to the agent's connection.
type EventType int

// Event types.
const (
	// EventConnected: a session started and its tunnels are bound.
	EventConnected EventType = iota + 1
	// EventDisconnected: the session ended; Err says why.
	EventDisconnected
	// EventReconnecting: the agent waits Delay before trying again; Err is
	// the last failure.
	EventReconnecting
)

// Event is passed to Config.OnEvent.
type Event struct {
	Type    EventType
	Session *Session
	Err     error
	Delay   time.Duration
}

// Backoff computes jittered exponential reconnect delays.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next attempt: Min doubled per failed
// attempt, capped at Max, then drawn uniformly from [d/2, d] so a fleet of
// agents does not reconnect in lockstep.
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// Reset starts the sequence over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Permanent reports whether err will not go away by reconnecting: a bad
// or revoked authtoken, an outdated agent, a tunnel the edge refuses, or
// an edge certificate that does not verify.
func Permanent(err error) bool {
	var rc *RemoteCommand
	if errors.As(err, &rc) {
		return true
	}
	// An edge certificate that does not verify will not start to.
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return true
	}
	switch proto.CodeOf(err) {
	case "", proto.CodeDraining, proto.CodeInternal, proto.CodeBadFrame, proto.CodeFrameTooLarge, proto.CodeUnavailable:
		return false
	}
	return true
}

// Run keeps a session up until ctx ends (returning nil), the edge refuses
// the agent for good (see Permanent; the *proto.Error is returned), or a
// remote command arrives (a *RemoteCommand is returned; the caller exits
// or re-executes). Between attempts it waits with jittered exponential
// backoff.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	b := Backoff{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	emit := func(e Event) {
		if cfg.OnEvent != nil {
			cfg.OnEvent(e)
		}
	}
	for {
		var (
			sess *Session
			err  error
		)
		if cfg.Resolve != nil {
			cfg.ServerAddr, err = cfg.Resolve(ctx)
		}
		if err == nil {
			sess, err = Connect(ctx, cfg)
		}
		if err == nil {
			b.Reset()
			emit(Event{Type: EventConnected, Session: sess})
			err = sess.Wait(ctx)
			emit(Event{Type: EventDisconnected, Session: sess, Err: err})
		}
		if ctx.Err() != nil {
			return nil
		}
		if Permanent(err) {
			return err
		}
		delay := b.Next()
		if errors.Is(err, ErrEdgeDraining) {
			delay = min(delay, cfg.MinBackoff)
		}
		cfg.Log.Warn("agent reconnecting", slog.Any("err", err), slog.Duration("delay", delay))
		emit(Event{Type: EventReconnecting, Err: err, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
