// Package store owns jan's persistent state: the domain types (users,
// conversations, messages, runs, models, idempotency records, refresh tokens)
// and the one Store interface the server uses. Two backends implement it over
// the same SQL: SQLite (embedded default) and Postgres (production).
//
// The store never knows about HTTP. Every read and write of user-owned data is
// scoped by the owner's id, so "not yours" and "does not exist" are the same
// ErrNotFound.
//
// What callers can rely on, in both backends:
//   - Times are UTC with microsecond precision (the API shows Unix seconds).
//     A create method fills in a zero CreatedAt and keeps a set one.
//   - Lists come back in exact creation order, even for objects created in
//     the same microsecond: they are ordered by an internal sequence, never by
//     timestamp. Empty lists are empty slices, not nil.
//   - Conversation.Metadata is never nil when read; Usage and Error are nil
//     when absent.
//   - Failures wrap ErrNotFound, ErrConflict, ErrBadCursor, ErrUnavailable,
//     ErrInvalidText or ErrTokenReused (check with errors.Is); anything else
//     is an internal error.
//
// Open (open.go) picks the backend from the DSN; the schema lives in
// migrations/.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns; the server maps them to HTTP in one place.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")       // unique constraint (username, email, ...)
	ErrBadCursor   = errors.New("invalid cursor") // pagination cursor is malformed or unknown
	ErrUnavailable = errors.New("database unavailable")
	// ErrInvalidText: the database refused text it cannot store (Postgres
	// and NUL). The server checks text first; this is the backstop.
	ErrInvalidText = errors.New("text the database cannot store")
	// ErrTokenReused: a refresh token was used a second time; its session
	// has been ended.
	ErrTokenReused = errors.New("refresh token reused")
)

// Message roles and statuses.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"

	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusInProgress = "in_progress"
	StatusFailed     = "failed"
)

type User struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string
	IsGuest      bool
	CreatedAt    time.Time
}

type Conversation struct {
	ID        string
	UserID    string
	Title     string
	Metadata  map[string]string
	Model     string // last model used by a run or chat completion; "" if none
	ProjectID string // "" when in no project
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ConversationUpdate changes only the fields that are non-nil.
type ConversationUpdate struct {
	Title     *string
	Metadata  map[string]string // nil: unchanged; empty non-nil: cleared
	Model     *string
	ProjectID *string // "" takes the conversation out of its project
}

// ConversationFilter narrows a list of conversations; the zero value
// keeps them all.
type ConversationFilter struct {
	ProjectID string // only the project's
}

// Project is a named group of a user's conversations whose Instruction
// reaches the model as a system message in each of them.
type Project struct {
	ID          string
	UserID      string
	Name        string
	Instruction string
	IsFavorite  bool
	ArchivedAt  *time.Time // nil unless archived
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LoginState is a browser sign-in in progress: the PKCE verifier and
// where to send the browser, under the SHA-256 of the state sent to the
// identity provider.
type LoginState struct {
	StateHash   string
	Verifier    string
	RedirectURL string
	QueryMode   bool // tokens in the redirect's query (loopback apps), not its fragment
	ExpiresAt   time.Time
}

// SigningKey is one of the embedded issuer's RSA keys (PEM, PKCS #8),
// shared by every replica: the active one signs, all of them verify.
type SigningKey struct {
	KID       string
	PEM       string
	Active    bool
	CreatedAt time.Time
	RetiredAt *time.Time // when a newer key took its place; nil while active
}

// ProjectUpdate changes only the fields that are non-nil.
type ProjectUpdate struct {
	Name        *string
	Instruction *string
	IsFavorite  *bool
	IsArchived  *bool
}

type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type Message struct {
	ID             string
	ConversationID string
	Role           string
	Content        string
	Status         string // completed | incomplete
	Model          string // for assistant messages
	RunID          string // for assistant messages produced by a run
	Usage          *Usage
	CreatedAt      time.Time
}

// RunError is why a run failed.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type Run struct {
	ID             string
	ConversationID string
	UserID         string
	Model          string
	Status         string // in_progress | completed | incomplete | failed
	MessageID      string // the assistant message, once finished
	Usage          *Usage
	Error          *RunError
	CreatedAt      time.Time
	CompletedAt    *time.Time
	// Owner names the process running the run (see RecoverRuns).
	Owner string
}

// Model is a model jan serves, as listed by /v1/models.
type Model struct {
	ID           string // public id
	Provider     string
	ServedName   string
	DisplayName  string
	Capabilities []string
	Created      time.Time
}

// Page selects a window of a list. After is an object id (the cursor); ""
// starts at the beginning. Order is "asc" or "desc". MaxBytes, when > 0,
// ends the page early once its items' text adds up to that many bytes (the
// page always holds at least one item; hasMore tells whether more follow).
type Page struct {
	Limit    int
	After    string
	Order    string
	MaxBytes int
}

// IdempotencyKey scopes a record: the same key from another principal, method
// or path is a different record.
type IdempotencyKey struct {
	PrincipalID string
	Method      string
	Path        string
	Key         string
}

// IdempotencyRecord is a request that was begun (Done=false) or finished.
type IdempotencyRecord struct {
	IdempotencyKey
	BodyHash    string
	Done        bool
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// RefreshToken is stored by hash only. SessionID is the sign-in it
// belongs to ("" for tokens from before sessions).
type RefreshToken struct {
	Hash      string
	UserID    string
	SessionID string
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// RevokedSession is a session that was ended, and when.
type RevokedSession struct {
	ID        string
	RevokedAt time.Time
}

// Store is everything the server persists. Methods taking userID only see
// that user's objects: another user's id gives ErrNotFound.
type Store interface {
	Ping(ctx context.Context) error
	// CheckWrite makes a one-row write: a database that answers but cannot
	// write (disk full, read-only) fails it.
	CheckWrite(ctx context.Context) error
	Close() error

	CreateUser(ctx context.Context, u *User) error // sets ID if empty, CreatedAt
	GetUser(ctx context.Context, id string) (*User, error)

	// SignIn starts a session for t.UserID with t as its first refresh
	// token (t.SessionID set) and marks the user active, in one
	// transaction; with guest non-nil it creates that user first (a guest
	// exists with its token or not at all). ErrNotFound if the user does
	// not exist, ErrConflict if the hash is already stored.
	SignIn(ctx context.Context, guest *User, t *RefreshToken) error
	// RotateRefreshToken spends the live (unexpired, unrevoked) token hash
	// and stores next in its session in its place (next.UserID and
	// SessionID set), marking the user active; it returns the spent token.
	// Of concurrent uses exactly one succeeds. A spent token used again is
	// a replay: its session is ended and the answer is ErrTokenReused.
	// Unknown or expired: ErrNotFound.
	RotateRefreshToken(ctx context.Context, hash string, next *RefreshToken) (*RefreshToken, error)
	// EndSession ends the session of refresh token hash (logout);
	// ErrNotFound if the token is unknown.
	EndSession(ctx context.Context, hash string) error
	// RevokeSessions ends every session of a user.
	RevokeSessions(ctx context.Context, userID string) error
	// RevokedSessions lists the sessions ended at or after since.
	RevokedSessions(ctx context.Context, since time.Time) ([]RevokedSession, error)
	// PurgeGuests deletes guests not signed in or refreshed since before,
	// with everything they own; it returns how many.
	PurgeGuests(ctx context.Context, before time.Time) (int64, error)

	// CreateConversation stores c (ID, CreatedAt, UpdatedAt set) and its
	// initial messages, in one transaction.
	CreateConversation(ctx context.Context, c *Conversation, msgs []*Message) error
	GetConversation(ctx context.Context, userID, id string) (*Conversation, error)
	// ListConversations pages through the user's conversations that f
	// keeps, newest first unless p.Order is "asc". p.After must be one of
	// this user's conversation ids, else ErrBadCursor.
	ListConversations(ctx context.Context, userID string, f ConversationFilter, p Page) (list []Conversation, hasMore bool, err error)
	// CountConversations counts the user's conversations that f keeps.
	CountConversations(ctx context.Context, userID string, f ConversationFilter) (int, error)
	// UpdateConversation applies u, bumps UpdatedAt and returns the result.
	UpdateConversation(ctx context.Context, userID, id string, u ConversationUpdate) (*Conversation, error)
	// CreateProject stores p (ID, CreatedAt, UpdatedAt set); a name the
	// user already has is ErrConflict.
	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, userID, id string) (*Project, error)
	// ListProjects pages through the user's projects, newest first unless
	// p.Order is "asc".
	ListProjects(ctx context.Context, userID string, p Page) (list []Project, hasMore bool, err error)
	// UpdateProject applies u, bumps UpdatedAt and returns the result; a
	// name the user already has is ErrConflict.
	UpdateProject(ctx context.Context, userID, id string, u ProjectUpdate) (*Project, error)
	// DeleteProject deletes the project; its conversations stay, in no
	// project.
	DeleteProject(ctx context.Context, userID, id string) error
	// RunProgress is the run and, while it is in progress, its answer so
	// far (last checkpoint); "" once it ended.
	RunProgress(ctx context.Context, userID, conversationID, id string) (*Run, string, error)
	// RequestCancel asks the process running the run to stop it (a flag,
	// and on Postgres a notification); ErrNotFound unless it is in progress.
	RequestCancel(ctx context.Context, userID, runID string) error
	// RequestResponseCancel is RequestCancel for a background response.
	RequestResponseCancel(ctx context.Context, userID, responseID string) error
	// CancelRequests lists owner's in-progress runs and responses whose
	// cancel was requested (the fallback when a notification is lost).
	CancelRequests(ctx context.Context, owner string) ([]string, error)
	// WatchCancels calls fn for each cancel request another process makes,
	// until ctx ends (Postgres); it returns at once where there are no
	// notifications (SQLite).
	WatchCancels(ctx context.Context, fn func(runID string)) error
	// SigningKeys lists the issuer's signing keys, the active one first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores the active signing key; ErrConflict when one is
	// active already (another replica made it first).
	AddSigningKey(ctx context.Context, k *SigningKey) error
	// RotateSigningKey retires the active key oldKID and stores k as the
	// active one, together; ErrConflict when oldKID is no longer the
	// active key (another replica rotated first).
	RotateSigningKey(ctx context.Context, oldKID string, k *SigningKey) error
	// PruneSigningKeys deletes the keys retired before t and returns how
	// many.
	PruneSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error)
	// CreateLoginState stores a browser sign-in in progress (and drops the
	// expired ones).
	CreateLoginState(ctx context.Context, ls *LoginState) error
	// TakeLoginState deletes and returns a sign-in in progress: single
	// use. Missing, taken or expired is ErrNotFound.
	TakeLoginState(ctx context.Context, stateHash string) (*LoginState, error)
	// DeleteConversation deletes the conversation with its messages and runs.
	DeleteConversation(ctx context.Context, userID, id string) error

	// AppendMessages adds msgs (IDs, CreatedAt set; Status defaults to
	// completed) to the end of the conversation, in one transaction, and bumps
	// its UpdatedAt (and Model, to the last message's non-empty Model).
	AppendMessages(ctx context.Context, userID, conversationID string, msgs []*Message) error
	// ListMessages pages through the conversation's messages, oldest first
	// unless p.Order is "desc". p.After must be a message of this
	// conversation, else ErrBadCursor.
	ListMessages(ctx context.Context, userID, conversationID string, p Page) (list []Message, hasMore bool, err error)
	// History returns every message of the conversation, oldest first.
	History(ctx context.Context, userID, conversationID string) ([]Message, error)
	// ConversationHistory is GetConversation and History in one consistent
	// read: the user's conversation and all its messages, oldest first (an
	// empty slice when it has none). ErrNotFound if the user does not own it.
	// The messages may be the store's cached ones, shared: read them, append
	// to the slice, but do not change them.
	ConversationHistory(ctx context.Context, userID, id string) (*Conversation, []Message, error)
	GetMessage(ctx context.Context, userID, conversationID, id string) (*Message, error)
	DeleteMessage(ctx context.Context, userID, conversationID, id string) error

	CreateRun(ctx context.Context, r *Run) error // sets ID if empty, CreatedAt
	// FinishRun stores the run's final state and, if msg is non-nil, appends
	// msg to the conversation, in one transaction (r.MessageID is set). The
	// run is identified by r.ID, r.ConversationID and r.UserID. A run
	// finishes once: a second FinishRun is ErrConflict and changes nothing.
	FinishRun(ctx context.Context, r *Run, msg *Message) error
	GetRun(ctx context.Context, userID, conversationID, id string) (*Run, error)
	// CheckpointRun saves the answer so far of a run still in progress and
	// marks it alive; once the run has finished it changes nothing.
	CheckpointRun(ctx context.Context, id, partial string) error
	// RecoverRuns finishes the runs left in progress by a process that is
	// gone: those whose Owner is owner (the process now starting under that
	// name) or whose last checkpoint is older than staleBefore. Each ends
	// incomplete, keeping its checkpointed answer as its message. It returns
	// the runs it finished.
	RecoverRuns(ctx context.Context, owner string, staleBefore time.Time) ([]Run, error)

	// CreateResponse stores r (ID set if empty, CreatedAt; Status
	// in_progress by default) with its input items, in one transaction.
	CreateResponse(ctx context.Context, r *Response, input []ResponseItem) error
	// FinishResponse stores a response's outcome (Status, Usage, Error,
	// IncompleteReason, CompletedAt) with what end holds, in one
	// transaction. A response no longer in progress is ErrConflict.
	FinishResponse(ctx context.Context, r *Response, end ResponseEnd) error
	GetResponse(ctx context.Context, userID, id string) (*Response, error)
	// DeleteResponse deletes a response with its items and events.
	DeleteResponse(ctx context.Context, userID, id string) error
	// ListResponseItems pages through a response's input (or output)
	// items, oldest first unless p.Order is "desc".
	ListResponseItems(ctx context.Context, userID, responseID string, input bool, p Page) ([]ResponseItem, bool, error)
	// ResponseContext is the items of id and of the responses before it on
	// its previous_response_id chain, oldest first, each one's input then
	// output items.
	ResponseContext(ctx context.Context, userID, id string) ([]ResponseItem, error)
	// CheckpointResponse saves the output so far (a JSON array of items)
	// of a response in progress and marks it alive.
	CheckpointResponse(ctx context.Context, id string, partial []byte) error
	// RecoverResponses finishes the responses a gone process left in
	// progress (as RecoverRuns does for runs): incomplete, reason
	// "interrupted", the checkpointed output kept.
	RecoverResponses(ctx context.Context, owner string, staleBefore time.Time) ([]Response, error)
	// AppendResponseEvents stores events of a response's stream; one
	// stored already is left as it is.
	AppendResponseEvents(ctx context.Context, responseID string, events []ResponseEvent) error
	// ResponseEvents returns the stored events of a response after
	// sequence number after (-1: all), in order.
	ResponseEvents(ctx context.Context, userID, responseID string, after int) ([]ResponseEvent, error)

	// UpsertModels inserts or updates models by ID; a zero Created keeps
	// the stored creation time.
	UpsertModels(ctx context.Context, models []Model) error
	// ListModels returns every model, ordered by ID.
	ListModels(ctx context.Context) ([]Model, error)

	// BeginIdempotent records a pending request. If a record for the key
	// exists (and has not expired) it is returned and nothing is written;
	// otherwise it returns (nil, nil). Records expire after IdempotencyTTL,
	// pending ones (a crashed request) after IdempotencyPendingTTL. Of
	// concurrent callers with one key exactly one gets (nil, nil).
	BeginIdempotent(ctx context.Context, r *IdempotencyRecord) (*IdempotencyRecord, error)
	// CompleteIdempotent stores the response and marks the record done;
	// ErrNotFound if the key has no record.
	CompleteIdempotent(ctx context.Context, k IdempotencyKey, status int, contentType string, body []byte) error
	// AbortIdempotent deletes a pending record so the key can be retried.
	AbortIdempotent(ctx context.Context, k IdempotencyKey) error
	// PurgeIdempotency deletes expired records and returns how many.
	PurgeIdempotency(ctx context.Context) (int64, error)

	// GetUserByUsername finds a user by username, ignoring case; ErrNotFound
	// if none.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser overwrites Username, Email, PasswordHash and IsGuest of the
	// user with u.ID: ErrNotFound if there is none, ErrConflict if the new
	// username or email is taken.
	UpdateUser(ctx context.Context, u *User) error
	// ListUsers lists every user, oldest first (administrators only).
	ListUsers(ctx context.Context, limit int, after string) (users []User, hasMore bool, err error)

	CreateAPIKey(ctx context.Context, k *APIKey) error // sets ID if empty, CreatedAt
	ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error)
	// APIKeyByHash finds a key by the hash of its secret; ErrNotFound if none.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	DeleteAPIKey(ctx context.Context, userID, id string) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// APIKey is a long-lived credential. Only the hash of its secret is stored;
// Prefix is the start of the secret, to tell keys apart in a list.
type APIKey struct {
	ID         string
	UserID     string
	Username   string   // the owner's, when the key was made
	Scopes     []string // the owner's, when the key was made
	Name       string
	Prefix     string
	Hash       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time // nil: never
}
