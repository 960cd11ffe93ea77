package store_test

import (
	"context"
	"errors"
	"strings"
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
	dsn, proxy := pgtest.CuttableURL(t)

	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user := store.NewID(store.PrefixUser)
	conv := &store.Conversation{UserID: user}
	if err := st.CreateConversation(ctx, conv, nil); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
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
