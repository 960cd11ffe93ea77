// Package tui is jan's chat in the terminal (Bubble Tea v2): a sidebar of
// conversations, the transcript rendered as Markdown, a multi-line input,
// a model picker, help, and a status line.
//
// One root Model owns layout, focus and state; the panels (sidebar,
// transcript, input, overlays) are plain structs it calls. All I/O happens
// in tea.Cmds through the API interface (*client.Client in production), so
// the TUI works the same against any jan. Streamed tokens are batched
// (~30 ms) before they reach Update. Model output is untrusted: every text
// from the server passes through safetext before it is rendered.
package tui

import (
	"context"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/janhq/jan/internal/client"
)

// API is the part of jan's client the chat uses.
type API interface {
	ListConversations(ctx context.Context, p client.ListParams) (*client.Page[client.Conversation], error)
	GetConversation(ctx context.Context, id string) (*client.Conversation, error)
	CreateConversation(ctx context.Context, p client.ConversationParams, key string) (*client.Conversation, error)
	UpdateConversation(ctx context.Context, id string, u client.ConversationUpdate) (*client.Conversation, error)
	DeleteConversation(ctx context.Context, id string) error
	AllMessages(ctx context.Context, conversationID string) ([]client.Message, error)
	CreateMessage(ctx context.Context, conversationID string, p client.MessageParams, key string) (*client.Message, error)
	StreamRun(ctx context.Context, conversationID string, p client.RunParams, key string) (*client.Stream, error)
	CancelRun(ctx context.Context, conversationID, runID string) (*client.Run, error)
	ResumeRun(ctx context.Context, conversationID, runID, after string) (*client.Stream, error)
	DeleteItem(ctx context.Context, conversationID, itemID string) error
	Models(ctx context.Context) ([]client.Model, error)
	ListProjects(ctx context.Context) ([]client.Project, error)
}

// Options configure the chat.
type Options struct {
	Client       API
	Server       string // shown in the status line and in hints
	ConfigPath   string
	TokenFromEnv bool
	Conversation string          // open this one first
	Model        string          // answer with this model (else the conversation's)
	Project      *client.Project // new conversations go into it (jan chat --project)
	// Notices are sentences from the client to show (a new guest token).
	Notices <-chan string
	Getenv  func(string) string // NO_COLOR; default os.Getenv
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
	// StatePath is where the chat remembers, between runs, the conversation
	// open on each server and the prompts sent ("": nothing is remembered).
	StatePath string
	// ExportDir is where /export writes (default: the working directory).
	ExportDir string
	// BatchInterval is how long streamed tokens are gathered before they
	// reach Update; default 30ms.
	BatchInterval time.Duration
}

// Run shows the chat until the user quits or ctx ends.
func Run(ctx context.Context, o Options) error {
	m := New(o)
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err := p.Run()
	m.shutdown()
	if err == tea.ErrProgramKilled && ctx.Err() != nil {
		return nil
	}
	return err
}

func (o *Options) defaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = 30 * time.Millisecond
	}
}
