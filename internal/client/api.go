package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Identity.

// Guest creates a guest account and returns its tokens. It does not change
// the client's credentials (EnsureToken and the 401 fallback do).
func (c *Client) Guest(ctx context.Context) (*Tokens, error) { return c.guest(ctx) }

func (c *Client) guest(ctx context.Context) (*Tokens, error) {
	r := &request{method: http.MethodPost, path: "/auth/guest", public: true}
	var t Tokens
	return &t, c.call(ctx, r, &t)
}

// Refresh trades a refresh token for new tokens (the old refresh token is
// spent). It does not change the client's credentials.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	return c.refresh(ctx, refreshToken)
}

func (c *Client) refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	r, _ := newRequest(http.MethodPost, "/auth/refresh", map[string]string{"refresh_token": refreshToken})
	r.public = true
	var t Tokens
	return &t, c.call(ctx, r, &t)
}

// Login signs in with a username and password through the OAuth token
// endpoint (password grant) and returns the tokens.
func (c *Client) Login(ctx context.Context, username, password string) (*Tokens, error) {
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &UnreachableError{URL: c.base, Err: err}
	}
	return decodeOAuth(res)
}

// Upgrade turns the current guest account into a user account that keeps
// its conversations, and returns fresh tokens.
func (c *Client) Upgrade(ctx context.Context, username, email, password string) (*Tokens, error) {
	r, _ := newRequest(http.MethodPost, "/auth/upgrade", map[string]string{"username": username, "email": email, "password": password})
	var t Tokens
	return &t, c.call(ctx, r, &t)
}

// Me returns the principal the server sees.
func (c *Client) Me(ctx context.Context) (*Principal, error) {
	var p Principal
	return &p, c.get(ctx, "/auth/me", &p)
}

// Models.

// Models lists the models the server serves.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	var l struct {
		Data []Model `json:"data"`
	}
	if err := c.get(ctx, "/v1/models", &l); err != nil {
		return nil, err
	}
	return l.Data, nil
}

// Conversations.

// CreateConversation creates a conversation. The request carries the
// Idempotency-Key key ("" for a fresh one), so a retry after a network
// error creates one only.
func (c *Client) CreateConversation(ctx context.Context, p ConversationParams, key string) (*Conversation, error) {
	var conv Conversation
	return &conv, c.post(ctx, "/v1/conversations", p, true, key, &conv)
}

// ListConversations returns one page of the caller's conversations, newest
// first unless p.Order says otherwise.
func (c *Client) ListConversations(ctx context.Context, p ListParams) (*Page[Conversation], error) {
	var page Page[Conversation]
	return &page, c.get(ctx, "/v1/conversations"+listQuery(p), &page)
}

// GetConversation returns one conversation.
func (c *Client) GetConversation(ctx context.Context, id string) (*Conversation, error) {
	var conv Conversation
	return &conv, c.get(ctx, "/v1/conversations/"+esc(id), &conv)
}

// UpdateConversation changes a conversation's title or metadata.
func (c *Client) UpdateConversation(ctx context.Context, id string, u ConversationUpdate) (*Conversation, error) {
	r, err := newRequest(http.MethodPatch, "/v1/conversations/"+esc(id), u)
	if err != nil {
		return nil, err
	}
	var conv Conversation
	return &conv, c.call(ctx, r, &conv)
}

// DeleteConversation deletes a conversation and its messages.
func (c *Client) DeleteConversation(ctx context.Context, id string) error {
	r, _ := newRequest(http.MethodDelete, "/v1/conversations/"+esc(id), nil)
	return c.call(ctx, r, nil)
}

// Projects.

// ListProjects returns the caller's projects, newest first (at most 1,000).
func (c *Client) ListProjects(ctx context.Context) ([]Project, error) {
	var all []Project
	p := ListParams{Limit: 100}
	for range 10 {
		var page Page[Project]
		if err := c.get(ctx, "/v1/projects"+listQuery(p), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		next, more := page.Next(p)
		if !more {
			break
		}
		p = next
	}
	return all, nil
}

// FindProject returns the caller's project named nameOrID (or with that
// id), creating one with that name when there is none; created says so.
func (c *Client) FindProject(ctx context.Context, nameOrID string) (p *Project, created bool, err error) {
	if strings.HasPrefix(nameOrID, "proj_") {
		p = &Project{}
		return p, false, c.get(ctx, "/v1/projects/"+esc(nameOrID), p)
	}
	all, err := c.ListProjects(ctx)
	if err != nil {
		return nil, false, err
	}
	for i := range all {
		if all[i].Name == nameOrID {
			return &all[i], false, nil
		}
	}
	p = &Project{}
	return p, true, c.post(ctx, "/v1/projects", map[string]string{"name": nameOrID}, true, "", p)
}

// Messages.

// ListMessages returns one page of a conversation's messages, oldest first
// unless p.Order says otherwise.
func (c *Client) ListMessages(ctx context.Context, conversationID string, p ListParams) (*Page[Message], error) {
	var page Page[Message]
	return &page, c.get(ctx, "/v1/conversations/"+esc(conversationID)+"/messages"+listQuery(p), &page)
}

// AllMessages returns every message of a conversation, oldest first.
func (c *Client) AllMessages(ctx context.Context, conversationID string) ([]Message, error) {
	var all []Message
	p := ListParams{Limit: 100}
	for {
		page, err := c.ListMessages(ctx, conversationID, p)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		var more bool
		if p, more = page.Next(p); !more {
			return all, nil
		}
	}
}

// CreateMessage adds a message to a conversation. key is its
// Idempotency-Key ("" for a fresh one): pass the same key when sending the
// same message again after an error, and the server stores it once.
func (c *Client) CreateMessage(ctx context.Context, conversationID string, p MessageParams, key string) (*Message, error) {
	var m Message
	return &m, c.post(ctx, "/v1/conversations/"+esc(conversationID)+"/messages", p, true, key, &m)
}

// Runs.

// CreateRun runs the conversation through a model and waits for the
// answer (non-streamed).
func (c *Client) CreateRun(ctx context.Context, conversationID string, p RunParams, key string) (*Run, error) {
	body := struct {
		RunParams
		Stream bool `json:"stream"`
	}{p, false}
	var run Run
	return &run, c.post(ctx, "/v1/conversations/"+esc(conversationID)+"/runs", body, true, key, &run)
}

// StreamRun starts a streamed run. The stream's events are the run object
// (in_progress), the answer's chunks, the run in its final state, and an
// error event when it failed. key is the Idempotency-Key ("" for a fresh one).
func (c *Client) StreamRun(ctx context.Context, conversationID string, p RunParams, key string) (*Stream, error) {
	body := struct {
		RunParams
		Stream bool `json:"stream"`
	}{p, true}
	r, err := newRequest(http.MethodPost, "/v1/conversations/"+esc(conversationID)+"/runs", body)
	if err != nil {
		return nil, err
	}
	r.stream = true
	r.idempotencyKey = key
	if key == "" {
		r.idempotencyKey = NewIdempotencyKey()
	}
	s, err := c.openStream(ctx, r)
	if err != nil || !p.Background || s.runID == "" {
		return s, err
	}
	// A background run goes on when the connection drops: pick it up
	// where it broke, on whichever replica answers.
	s.resume = c.runEvents(conversationID, s.runID)
	return s, nil
}

// ResumeRun reopens a run's stream after its first after bytes of answer
// (the last event id a stream gave, "0" for all of it), on any replica:
// the run object, the rest of the answer (live while the run goes on), the
// run in its final state. It reconnects as a background StreamRun does.
func (c *Client) ResumeRun(ctx context.Context, conversationID, runID, after string) (*Stream, error) {
	events := c.runEvents(conversationID, runID)
	res, err := events(ctx, after)
	if err != nil {
		return nil, err
	}
	return &Stream{res: res, rd: bufio.NewReaderSize(res.Body, 8<<10), runID: runID, ctx: ctx, lastID: after, resume: events}, nil
}

// runEvents opens a run's event stream after an event id.
func (c *Client) runEvents(conversationID, runID string) func(ctx context.Context, after string) (*http.Response, error) {
	path := "/v1/conversations/" + esc(conversationID) + "/runs/" + esc(runID) + "/events"
	return func(ctx context.Context, after string) (*http.Response, error) {
		r, _ := newRequest(http.MethodGet, path+"?after="+url.QueryEscape(after), nil)
		r.stream = true
		next, err := c.openStream(ctx, r)
		if err != nil {
			return nil, err
		}
		return next.res, nil
	}
}

// DeleteItem deletes a message from a conversation (an answer being
// regenerated, say).
func (c *Client) DeleteItem(ctx context.Context, conversationID, itemID string) error {
	r, _ := newRequest(http.MethodDelete, "/v1/conversations/"+esc(conversationID)+"/items/"+esc(itemID), nil)
	r.safe = true
	return c.call(ctx, r, nil)
}

// GetRun returns a run.
func (c *Client) GetRun(ctx context.Context, conversationID, runID string) (*Run, error) {
	var run Run
	return &run, c.get(ctx, "/v1/conversations/"+esc(conversationID)+"/runs/"+esc(runID), &run)
}

// CancelRun stops a run on the server; its partial answer is kept and the
// run ends incomplete. Cancelling a run that ended returns it unchanged, so
// the call is retried after a network error.
func (c *Client) CancelRun(ctx context.Context, conversationID, runID string) (*Run, error) {
	r, _ := newRequest(http.MethodPost, "/v1/conversations/"+esc(conversationID)+"/runs/"+esc(runID)+"/cancel", nil)
	r.safe = true
	var run Run
	return &run, c.call(ctx, r, &run)
}

// Chat completions.

// ChatCompletion sends a non-streamed chat completion.
func (c *Client) ChatCompletion(ctx context.Context, req ChatRequest, key string) (*ChatCompletion, error) {
	body := struct {
		ChatRequest
		Stream bool `json:"stream"`
	}{req, false}
	var out ChatCompletion
	return &out, c.post(ctx, "/v1/chat/completions", body, true, key, &out)
}

// StreamChatCompletion sends a streamed chat completion; its events are
// EventDelta chunks and, on failure, an EventError.
func (c *Client) StreamChatCompletion(ctx context.Context, req ChatRequest, key string) (*Stream, error) {
	body := struct {
		ChatRequest
		Stream        bool            `json:"stream"`
		StreamOptions map[string]bool `json:"stream_options"`
	}{req, true, map[string]bool{"include_usage": true}}
	r, err := newRequest(http.MethodPost, "/v1/chat/completions", body)
	if err != nil {
		return nil, err
	}
	r.stream = true
	r.idempotencyKey = key
	if r.idempotencyKey == "" {
		r.idempotencyKey = NewIdempotencyKey()
	}
	return c.openStream(ctx, r)
}

// decodeOAuth reads a token endpoint answer: tokens, an RFC 6749 error
// ({"error":"invalid_grant","error_description":…}) or jan's envelope.
func decodeOAuth(res *http.Response) (*Tokens, error) {
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			msg := oe.Description
			if msg == "" {
				msg = oe.Error
			}
			return nil, &Error{StatusCode: res.StatusCode, Type: "auth_error", Code: oe.Error, Message: msg,
				RequestID: res.Header.Get("X-Request-Id")}
		}
		return nil, responseError(res, body)
	}
	var t Tokens
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("reading the token answer: %w", err)
	}
	return &t, nil
}
