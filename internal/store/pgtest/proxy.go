package pgtest

import (
	"cmp"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// CuttableURL returns the URL of a fresh database (as URL does) reached
// through a TCP proxy, and the proxy: Cut makes the database unreachable,
// as when a database server goes away under a running jan.
func CuttableURL(t testing.TB) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	target := u.Host
	if h := q.Get("host"); strings.HasPrefix(h, "/") { // Unix socket directory
		target = filepath.Join(h, ".s.PGSQL."+cmp.Or(q.Get("port"), "5432"))
	}
	network := "tcp"
	if strings.HasPrefix(target, "/") {
		network = "unix"
	}
	proxy := newProxy(t, network, target)
	q.Del("host")
	q.Del("port")
	u.Host, u.RawQuery = proxy.Addr(), q.Encode()
	return u.String(), proxy
}

// Proxy forwards TCP connections to target. Cut makes it drop every
// forwarded connection and refuse new ones until Restore.
type Proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newProxy(t testing.TB, network, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln}
	t.Cleanup(func() { p.Cut(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut makes the database unreachable through the proxy: connections in
// use break and new ones are closed at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore makes the database reachable again, as when it comes back up.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
