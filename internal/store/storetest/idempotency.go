package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janhq/jan/internal/store"
)

func idemKey(key string) store.IdempotencyKey {
	return store.IdempotencyKey{PrincipalID: "user_p", Method: "POST", Path: "/v1/conversations", Key: key}
}

func testIdempotency(t *testing.T, st store.Store) {
	c := ctx(t)
	k := idemKey("k1")
	rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "h1"})
	if err != nil || rec != nil {
		t.Fatalf("first Begin = %+v, %v; want nil, nil", rec, err)
	}
	rec, err = st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "h2"})
	must(t, err)
	if rec == nil || rec.Done || rec.BodyHash != "h1" || rec.IdempotencyKey != k {
		t.Fatalf("Begin while pending = %+v, want the pending record with body hash h1", rec)
	}
	fresh(t, "record CreatedAt", rec.CreatedAt)

	body := []byte(`{"id":"conv_1"}`)
	must(t, st.CompleteIdempotent(c, k, 201, "application/json", body))
	rec, err = st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "h1"})
	must(t, err)
	if rec == nil || !rec.Done || rec.Status != 201 || rec.ContentType != "application/json" || string(rec.Body) != string(body) {
		t.Fatalf("Begin after Complete = %+v, want the stored response", rec)
	}
	// Abort leaves a finished record alone.
	must(t, st.AbortIdempotent(c, k))
	if rec, err = st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k}); err != nil || rec == nil || !rec.Done {
		t.Errorf("Begin after aborting a finished record = %+v, %v; want the record", rec, err)
	}

	// Each part of the scope makes a different record.
	for _, other := range []store.IdempotencyKey{
		{PrincipalID: "user_q", Method: k.Method, Path: k.Path, Key: k.Key},
		{PrincipalID: k.PrincipalID, Method: "PATCH", Path: k.Path, Key: k.Key},
		{PrincipalID: k.PrincipalID, Method: k.Method, Path: "/v1/responses", Key: k.Key},
		{PrincipalID: k.PrincipalID, Method: k.Method, Path: k.Path, Key: "k2"},
	} {
		if rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: other}); err != nil || rec != nil {
			t.Errorf("Begin %+v = %+v, %v; want nil, nil", other, rec, err)
		}
	}

	// Aborting a pending record frees the key.
	k3 := idemKey("k3")
	if _, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k3}); err != nil {
		t.Fatal(err)
	}
	must(t, st.AbortIdempotent(c, k3))
	if rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k3}); err != nil || rec != nil {
		t.Errorf("Begin after Abort = %+v, %v; want nil, nil", rec, err)
	}
	// An empty body is stored as empty, not as "no response".
	must(t, st.CompleteIdempotent(c, k3, 204, "", nil))
	if rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k3}); err != nil || rec == nil || !rec.Done || rec.Status != 204 || len(rec.Body) != 0 {
		t.Errorf("Begin after an empty Complete = %+v, %v", rec, err)
	}

	wantErr(t, "Complete of a missing key", st.CompleteIdempotent(c, idemKey("missing"), 200, "", nil), store.ErrNotFound)
	must(t, st.AbortIdempotent(c, idemKey("missing")))
}

// testIdempotencyExpiry: stale records (a day old, or pending for over ten
// minutes: a crashed request) are replaced; live ones are not.
func testIdempotencyExpiry(t *testing.T, st store.Store) {
	c := ctx(t)
	now := time.Now()
	cases := []struct {
		name     string
		age      time.Duration
		done     bool
		replaced bool
	}{
		{"done, 23h old", 23 * time.Hour, true, false},
		{"done, 25h old", 25 * time.Hour, true, true},
		{"pending, 5m old", 5 * time.Minute, false, false},
		{"pending, 11m old", 11 * time.Minute, false, true},
	}
	for _, tc := range cases {
		k := idemKey(tc.name)
		old := &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "old", CreatedAt: now.Add(-tc.age)}
		if rec, err := st.BeginIdempotent(c, old); err != nil || rec != nil {
			t.Fatalf("%s: seeding: %+v, %v", tc.name, rec, err)
		}
		if tc.done {
			must(t, st.CompleteIdempotent(c, k, 200, "text/plain", []byte("old")))
		}
		rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "new"})
		must(t, err)
		if replaced := rec == nil; replaced != tc.replaced {
			t.Errorf("%s: replaced = %v, want %v (got %+v)", tc.name, replaced, tc.replaced, rec)
		}
		if !tc.replaced && rec != nil && rec.BodyHash != "old" {
			t.Errorf("%s: got %+v, want the old record", tc.name, rec)
		}
	}
}

// testIdempotencyRace: of 50 concurrent requests with one key exactly one
// proceeds — for a new key and for a key held by a stale record.
func testIdempotencyRace(t *testing.T, st store.Store) {
	c := ctx(t)
	stale := idemKey("stale")
	if _, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: stale, CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.IdempotencyKey{idemKey("race"), stale} {
		var winners, pending atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				rec, err := st.BeginIdempotent(c, &store.IdempotencyRecord{IdempotencyKey: k, BodyHash: "h"})
				switch {
				case err != nil:
					t.Errorf("Begin: %v", err)
				case rec == nil:
					winners.Add(1)
				case !rec.Done && rec.BodyHash == "h":
					pending.Add(1)
				default:
					t.Errorf("Begin returned %+v", rec)
				}
			})
		}
		close(start)
		wg.Wait()
		if winners.Load() != 1 || pending.Load() != 49 {
			t.Errorf("key %q: %d winners and %d saw it pending, want 1 and 49", k.Key, winners.Load(), pending.Load())
		}
	}
}
