package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/janhq/jan/internal/store"
)

// fakeUsers is an in-memory UserStore with the store's contract: unique
// usernames, and UseRefreshToken revoking a live token atomically.
type fakeUsers struct {
	mu     sync.Mutex
	now    func() time.Time
	users  map[string]*store.User
	tokens map[string]*store.RefreshToken
	nextID int
}

func newFakeUsers(now func() time.Time) *fakeUsers {
	return &fakeUsers{now: now, users: map[string]*store.User{}, tokens: map[string]*store.RefreshToken{}}
}

func (s *fakeUsers) CreateUser(_ context.Context, u *store.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.users {
		if o.Username == u.Username {
			return store.ErrConflict
		}
	}
	if u.ID == "" {
		s.nextID++
		u.ID = fmt.Sprintf("user_%d", s.nextID)
	}
	u.CreatedAt = s.now()
	cp := *u
	s.users[u.ID] = &cp
	return nil
}

func (s *fakeUsers) GetUser(_ context.Context, id string) (*store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *u
	return &cp, nil
}

func (s *fakeUsers) SaveRefreshToken(_ context.Context, t *store.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *t
	s.tokens[t.Hash] = &cp
	return nil
}

func (s *fakeUsers) UseRefreshToken(_ context.Context, hash string) (*store.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	now := s.now()
	if !ok || t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	t.RevokedAt = &now
	cp := *t
	return &cp, nil
}

// clock is a settable time source safe for concurrent reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (s *fakeUsers) GetUserByUsername(_ context.Context, username string) (*store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if strings.EqualFold(u.Username, username) {
			cp := *u
			return &cp, nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *fakeUsers) UpdateUser(_ context.Context, u *store.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; !ok {
		return store.ErrNotFound
	}
	for _, o := range s.users {
		if o.ID != u.ID && (strings.EqualFold(o.Username, u.Username) || (u.Email != "" && strings.EqualFold(o.Email, u.Email))) {
			return store.ErrConflict
		}
	}
	cp := *u
	s.users[u.ID] = &cp
	return nil
}

func (s *fakeUsers) RevokeRefreshTokens(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		if t.UserID == userID && t.RevokedAt == nil {
			t.RevokedAt = &now
		}
	}
	return nil
}
