package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultServerURL is where jan listens unless told otherwise.
const DefaultServerURL = "http://127.0.0.1:8080"

// Credentials are the tokens the client sends, and whose they are.
type Credentials struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	Username     string `json:"username,omitempty"`
	Guest        bool   `json:"guest,omitempty"`
}

// Credentials are the tokens as the client keeps them.
func (t *Tokens) Credentials() Credentials {
	return Credentials{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
		UserID: t.User.ID, Username: t.User.Username, Guest: t.User.Guest}
}

// Options configure a Client. Only BaseURL matters for a first try.
type Options struct {
	BaseURL     string       // default DefaultServerURL
	HTTPClient  *http.Client // default: no overall timeout (streams are long)
	Credentials Credentials
	UserAgent   string

	// OnCredentials is called with new credentials after a refresh or a
	// new guest token, so the caller can save them.
	OnCredentials func(Credentials)
	// Notice tells the user something they should know, in one sentence.
	Notice func(string)
	// GuestFallback: when a token is refused and cannot be refreshed, get
	// a new guest token (with a Notice) and retry once.
	GuestFallback bool
	// TokenSource names where the credentials came from when that is not
	// the saved config (e.g. "JAN_TOKEN"): a refused token is then an error
	// that says so.
	TokenSource string

	// Retries is how many times a request that is safe to repeat is sent
	// again after a network error, a 502/503/504, or a 429 whose
	// Retry-After is at most 5s; default 2, -1 for none.
	Retries int
	// RetryDelay is the first backoff; it doubles each time. Default 250ms.
	RetryDelay time.Duration
}

// Client talks to one jan server. It is safe for concurrent use.
type Client struct {
	base  string
	http  *http.Client
	opts  Options
	mu    sync.Mutex
	creds Credentials
}

// New returns a client for o.BaseURL.
func New(o Options) *Client {
	if o.BaseURL == "" {
		o.BaseURL = DefaultServerURL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if o.Retries == 0 {
		o.Retries = 2
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 250 * time.Millisecond
	}
	if o.UserAgent == "" {
		o.UserAgent = "jan-client"
	}
	return &Client{base: NormalizeURL(o.BaseURL), http: o.HTTPClient, opts: o, creds: o.Credentials}
}

// BaseURL is the server's URL (no trailing slash, no /v1).
func (c *Client) BaseURL() string { return c.base }

// Credentials returns the credentials in use now.
func (c *Client) Credentials() Credentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds
}

// SetCredentials replaces the credentials (after jan login, say).
func (c *Client) SetCredentials(cr Credentials) {
	c.mu.Lock()
	c.creds = cr
	c.mu.Unlock()
}

// NormalizeURL turns what a person typed into a base URL: a scheme is
// added when missing, and a trailing slash or /v1 is dropped.
func NormalizeURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	s = strings.TrimRight(s, "/")
	s = strings.TrimSuffix(s, "/v1")
	return strings.TrimRight(s, "/")
}

// request describes one logical call; it may be sent more than once.
type request struct {
	method string
	path   string // with query
	body   []byte // JSON, nil for none
	// idempotencyKey is sent on POSTs that the server deduplicates; with
	// one, a POST may be retried after a network error.
	idempotencyKey string
	public         bool // no Authorization header, no refresh on 401
	safe           bool // repeating it is harmless though it is a POST
	stream         bool // Accept: text/event-stream
}

func newRequest(method, path string, body any) (*request, error) {
	r := &request{method: method, path: path}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r.body = b
	}
	return r, nil
}

// NewIdempotencyKey returns a random key for Idempotency-Key.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "jan-" + hex.EncodeToString(b[:])
}

func (r *request) retryable() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPut:
		return true
	}
	return r.safe || r.idempotencyKey != ""
}

// send performs r and returns a 2xx response (the caller closes its body)
// or an error: *Error for an HTTP error, *UnreachableError when no answer
// came. It retries what is safe to retry and re-authenticates once on 401.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	reauthed := false
	delay := c.opts.RetryDelay
	for attempt := 0; ; attempt++ {
		token := ""
		if !r.public {
			token = c.Credentials().AccessToken
		}
		res, err := c.sendOnce(ctx, r, token)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if r.retryable() && attempt < c.opts.Retries {
				if werr := sleep(ctx, delay); werr != nil {
					return nil, werr
				}
				delay *= 2
				continue
			}
			return nil, &UnreachableError{URL: c.base, Err: err}
		}
		if res.StatusCode < 300 {
			return res, nil
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		apiErr := responseError(res, body)
		switch {
		case res.StatusCode == http.StatusUnauthorized && !r.public && !reauthed:
			reauthed = true
			if rerr := c.reauthenticate(ctx, token); rerr != nil {
				var refused *TokenRefusedError
				if errors.As(rerr, &refused) {
					refused.err = apiErr
					return nil, refused // says it all: no new token is to be had
				}
				return nil, fmt.Errorf("%w; and getting a new token failed: %v", apiErr, rerr)
			}
			attempt-- // re-authenticating is not a retry
			continue
		case (res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable ||
			res.StatusCode == http.StatusGatewayTimeout || res.StatusCode == http.StatusTooManyRequests) &&
			r.retryable() && attempt < c.opts.Retries:
			wait := max(delay, apiErr.RetryAfter)
			if wait > 5*time.Second {
				return nil, apiErr
			}
			if werr := sleep(ctx, wait); werr != nil {
				return nil, werr
			}
			delay *= 2
			continue
		}
		return nil, apiErr
	}
}

func (c *Client) sendOnce(ctx context.Context, r *request, token string) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if r.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	return c.http.Do(req)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reauthenticate replaces a refused access token: with the refresh token
// when there is one, else (GuestFallback) with a new guest token. When
// another goroutine already replaced the token, it does nothing.
func (c *Client) reauthenticate(ctx context.Context, refused string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds.AccessToken != refused && c.creds.AccessToken != "" {
		return nil
	}
	if rt := c.creds.RefreshToken; rt != "" {
		if t, err := c.refresh(ctx, rt); err == nil {
			c.creds = t.Credentials()
			c.changed()
			return nil
		} else if !c.opts.GuestFallback {
			return err
		}
	}
	if !c.opts.GuestFallback || c.opts.TokenSource != "" {
		switch {
		case refused == "":
			return errors.New("no token: run `jan guest` or set JAN_TOKEN")
		case c.opts.TokenSource != "":
			return &TokenRefusedError{Source: c.opts.TokenSource}
		}
		return errors.New("the token was refused and there is no refresh token: sign in again (jan login)")
	}
	t, err := c.guest(ctx)
	if err != nil {
		return err
	}
	c.creds = t.Credentials()
	c.changed()
	if c.opts.Notice != nil {
		if refused == "" {
			c.opts.Notice("No saved token: signed in as a new guest (" + t.User.Username + ").")
		} else {
			c.opts.Notice("Your token expired and could not be refreshed: continuing as a new guest (" + t.User.Username + "); earlier conversations stay with the old account.")
		}
	}
	return nil
}

// TokenRefusedError is a token given from outside the saved config (e.g.
// JAN_TOKEN) that the server refused: the client does not replace it.
type TokenRefusedError struct {
	Source string // where the token came from, e.g. "JAN_TOKEN"
	err    error  // the server's answer
}

func (e *TokenRefusedError) Error() string {
	return fmt.Sprintf("the token in %s was refused (expired, revoked, or from another server): set a fresh one (jan guest --print), or unset %s to use the saved token",
		e.Source, e.Source)
}

func (e *TokenRefusedError) Unwrap() error { return e.err }

// changed reports new credentials; c.mu is held.
func (c *Client) changed() {
	if c.opts.OnCredentials != nil {
		c.opts.OnCredentials(c.creds)
	}
}

// EnsureToken gets a guest token when the client has none. It reports
// whether it did.
func (c *Client) EnsureToken(ctx context.Context) (bool, error) {
	if c.Credentials().AccessToken != "" {
		return false, nil
	}
	t, err := c.Guest(ctx)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	c.creds = t.Credentials()
	c.changed()
	c.mu.Unlock()
	return true, nil
}

// call sends r and decodes a JSON answer into out (unless out is nil).
func (c *Client) call(ctx context.Context, r *request, out any) error {
	res, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", r.method, r.path, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	r, _ := newRequest(http.MethodGet, path, nil)
	return c.call(ctx, r, out)
}

// post sends a JSON body; keyed POSTs carry an Idempotency-Key (key, or
// a fresh one when key is "") and are retried.
func (c *Client) post(ctx context.Context, path string, body any, keyed bool, key string, out any) error {
	r, err := newRequest(http.MethodPost, path, body)
	if err != nil {
		return err
	}
	if keyed {
		r.idempotencyKey = key
		if key == "" {
			r.idempotencyKey = NewIdempotencyKey()
		}
	}
	return c.call(ctx, r, out)
}

func listQuery(p ListParams) string {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	if p.Order != "" {
		q.Set("order", p.Order)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func esc(s string) string { return url.PathEscape(s) }
