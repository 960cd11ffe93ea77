package store_test

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
	"github.com/janhq/jan/internal/store/pgtest"
	"github.com/janhq/jan/internal/store/storetest"
)

func openPostgres(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.URL(t), store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t) })
}

func TestPostgresOpen(t *testing.T) {
	storetest.RunOpen(t, func(t *testing.T) string { return pgtest.URL(t) })
}

// An unreachable server is ErrUnavailable, and the password in the DSN never
// shows in the error.
func TestPostgresUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://jan:s3cretPW@127.0.0.1:1/jan?sslmode=disable",
		"postgresql://jan@127.0.0.1:1/jan?sslmode=disable&password=s3cretPW",
	} {
		_, err := store.Open(ctx, dsn, store.Options{AutoMigrate: true})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(unreachable): %v, want ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cretPW") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

// A database that goes away under a running store is ErrUnavailable (the
// server answers 503), not an opaque error. A TCP proxy in front of the test
// server is cut to simulate it.
func TestPostgresUnavailableAtRuntime(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
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
	proxy := newCuttableProxy(t, network, target)
	q.Del("host")
	q.Del("port")
	u.Host, u.RawQuery = proxy.addr(), q.Encode()

	ctx := context.Background()
	st, err := store.Open(ctx, u.String(), store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	if err := st.CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	for i := range 3 { // the first may meet a dead pooled connection, later ones a refused connect
		_, err := st.GetConversation(ctx, user, conv.ID)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("query %d after the database went away: %v, want ErrUnavailable", i, err)
		}
	}
	if err := st.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after the database went away: %v, want ErrUnavailable", err)
	}
}

// cuttableProxy forwards TCP connections to target until cut, which closes
// the listener and every forwarded connection.
type cuttableProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCuttableProxy(t *testing.T, network, target string) *cuttableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
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

func (p *cuttableProxy) addr() string { return p.ln.Addr().String() }

func (p *cuttableProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
