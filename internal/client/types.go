package client

import "encoding/json"

// The API's objects, with OpenAI's field names. Timestamps are Unix seconds.

// Tokens is what the identity routes return.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	User         User   `json:"user"`
}

// User is the account a token belongs to.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Guest    bool   `json:"guest"`
}

// Principal is GET /auth/me: who the server thinks the caller is.
type Principal struct {
	ID         string   `json:"id"`
	Object     string   `json:"object"`
	Username   string   `json:"username"`
	Guest      bool     `json:"guest"`
	Scopes     []string `json:"scopes"`
	AuthMethod string   `json:"auth_method"`
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID           string   `json:"id"`
	Object       string   `json:"object"`
	Created      int64    `json:"created"`
	OwnedBy      string   `json:"owned_by"`
	DisplayName  string   `json:"display_name,omitempty"`
	Capabilities []string `json:"capabilities"`
}

// Conversation is a stored conversation. Model is the model its last run
// used (empty before the first run).
type Conversation struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	UserID    string            `json:"user_id"`
	Title     string            `json:"title"`
	Metadata  map[string]string `json:"metadata"`
	Model     string            `json:"model,omitempty"`
	ProjectID string            `json:"project_id,omitempty"`
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
}

// ConversationParams creates a conversation. Zero fields are left out.
type ConversationParams struct {
	Title     string            `json:"title,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	ProjectID string            `json:"project_id,omitempty"`
}

// Project is a named group of conversations whose instruction the model
// gets first in each of them.
type Project struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Instruction string `json:"instruction"`
	IsArchived  bool   `json:"is_archived"`
	CreatedAt   int64  `json:"created_at"`
}

// ConversationUpdate changes a conversation; nil fields are left as they are.
type ConversationUpdate struct {
	Title    *string            `json:"title,omitempty"`
	Metadata *map[string]string `json:"metadata,omitempty"`
}

// Message roles and statuses.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"

	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusFailed     = "failed"
)

// Message is one stored message of a conversation.
type Message struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	ConversationID string `json:"conversation_id"`
	Role           string `json:"role"`
	Content        string `json:"content"`
	Status         string `json:"status"`
	Model          string `json:"model,omitempty"`
	RunID          string `json:"run_id,omitempty"`
	Usage          *Usage `json:"usage,omitempty"`
	CreatedAt      int64  `json:"created_at"`
}

// MessageParams adds a message to a conversation.
type MessageParams struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Usage is token accounting, as OpenAI reports it.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Run is one pass of a conversation through a model.
type Run struct {
	ID             string    `json:"id"`
	Object         string    `json:"object"`
	ConversationID string    `json:"conversation_id"`
	Status         string    `json:"status"`
	Model          string    `json:"model"`
	Message        *Message  `json:"message"`
	Usage          *Usage    `json:"usage"`
	Error          *RunError `json:"error"`
	CreatedAt      int64     `json:"created_at"`
	CompletedAt    *int64    `json:"completed_at"`
}

// RunError says why a run failed.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RunParams starts a run. Zero fields are left to the server: the model
// defaults to the conversation's last one, else the default model.
type RunParams struct {
	Model        string   `json:"model,omitempty"`
	Temperature  *float64 `json:"temperature,omitempty"`
	MaxTokens    *int     `json:"max_tokens,omitempty"`
	Instructions string   `json:"instructions,omitempty"`
	// Background keeps the run going when the connection drops; the
	// stream then resumes where it broke (Stream.Next reconnects).
	Background bool `json:"background,omitempty"`
}

// ListParams pages through a list. Zero fields use the server's defaults
// (20 items; conversations newest first, messages oldest first).
type ListParams struct {
	Limit int    // 1–100
	After string // a cursor: the previous page's NextAfter
	Order string // "asc" or "desc"
}

// Page is one page of a list.
type Page[T any] struct {
	Data      []T     `json:"data"`
	FirstID   *string `json:"first_id"`
	LastID    *string `json:"last_id"`
	HasMore   bool    `json:"has_more"`
	NextAfter *string `json:"next_after"`
}

// Next returns the params for the page after p, and false on the last page.
func (p *Page[T]) Next(prev ListParams) (ListParams, bool) {
	if !p.HasMore || p.NextAfter == nil {
		return prev, false
	}
	prev.After = *p.NextAfter
	return prev, true
}

// ChatMessage is one message of a chat completion request or answer.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is POST /v1/chat/completions. Conversation and Store are
// jan's extras: run on top of a stored conversation, and whether to store.
type ChatRequest struct {
	Model        string        `json:"model"`
	Messages     []ChatMessage `json:"messages"`
	Temperature  *float64      `json:"temperature,omitempty"`
	MaxTokens    *int          `json:"max_tokens,omitempty"`
	Conversation string        `json:"conversation,omitempty"`
	Store        *bool         `json:"store,omitempty"`
}

// ChatCompletion is a non-streamed chat completion.
type ChatCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int         `json:"index"`
		Message      ChatMessage `json:"message"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// Text is the first choice's content.
func (c *ChatCompletion) Text() string {
	if len(c.Choices) == 0 {
		return ""
	}
	return c.Choices[0].Message.Content
}

// ChatCompletionChunk is one streamed chunk.
type ChatCompletionChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string `json:"role,omitempty"`
			Content string `json:"content,omitempty"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// EventType tells what a stream Event carries.
type EventType string

const (
	// EventRun carries a run object: the first event of a run stream
	// (in_progress) and the last one (its final state).
	EventRun EventType = "run"
	// EventDelta carries a chat.completion.chunk; Text is its content delta
	// (empty for role-only and usage chunks).
	EventDelta EventType = "delta"
	// EventError carries an error the server sent after the stream started.
	EventError EventType = "error"
)

// Event is one event of a stream.
type Event struct {
	Type  EventType
	Run   *Run                 // EventRun
	Chunk *ChatCompletionChunk // EventDelta
	Text  string               // EventDelta: the content delta
	Error *Error               // EventError
	Data  json.RawMessage      // the payload as the server sent it
}
