package devstack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// portPicker hands out free loopback ports. It holds every picked port open until release, so
// that two picks never return the same port.
type portPicker struct {
	held []net.Listener
	used map[int]bool
}

func newPortPicker() *portPicker { return &portPicker{used: map[int]bool{}} }

// addr returns a free 127.0.0.1:port.
func (p *portPicker) addr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	p.held = append(p.held, l)
	p.used[l.Addr().(*net.TCPAddr).Port] = true
	return l.Addr().String(), nil
}

// port returns a free port number.
func (p *portPicker) port() (int, error) {
	a, err := p.addr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(a)
	return strconv.Atoi(port)
}

// tcpRange returns the first port of n consecutive free ports below the kernel's ephemeral
// range (so that they never collide with ports picked by addr).
func (p *portPicker) tcpRange(n int) (int, error) {
	const lo, hi = 20000, 32000
	for range 100 {
		first := lo + rand.IntN((hi-lo)/n)*n
		if p.claimRange(first, n) == nil {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports between %d and %d", n, lo, hi)
}

// claimRange checks that the n ports from first are free and holds them.
func (p *portPicker) claimRange(first, n int) error {
	var got []net.Listener
	for port := first; port < first+n; port++ {
		if p.used[port] {
			closeAll(got)
			return fmt.Errorf("port %d picked twice", port)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			closeAll(got)
			return fmt.Errorf("port %d is in use", port)
		}
		got = append(got, l)
	}
	for port := first; port < first+n; port++ {
		p.used[port] = true
	}
	p.held = append(p.held, got...)
	return nil
}

// claim checks that a fixed address is free and holds it.
func (p *portPicker) claim(what, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 {
		return fmt.Errorf("%s %q: bad port", what, addr)
	}
	if p.used[port] {
		return fmt.Errorf("%s %s: port %d is used twice in this stack", what, addr, port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
	if err != nil {
		return fmt.Errorf("%s %s is in use (is another devstack running?): %w", what, addr, errors.Unwrap(err))
	}
	p.held = append(p.held, l)
	p.used[port] = true
	return nil
}

// release closes the held listeners so that the children can bind the ports.
func (p *portPicker) release() {
	closeAll(p.held)
	p.held = nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}
