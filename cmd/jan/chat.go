package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
	"github.com/janhq/jan/internal/tui"
)

type chatOptions struct {
	clientOptions
	Conversation string
	Model        string
	Prompt       string
	JSON         bool
	Project      string
}

func newChatCmd() *cobra.Command {
	o := &chatOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with a jan server's models in the terminal",
		Long: `Chat with the models of a jan server.

On a terminal, jan chat opens a full-screen chat: your conversations in a
sidebar, the transcript as Markdown, the answer streaming in. Press ? in
it for every key.

Without a terminal, or with -p, it sends one prompt and streams the answer
to stdout as plain text (--json: the server's events, one JSON object a
line), for scripts. A prompt piped on stdin is used too (after -p's text,
when both are given). The exit code is non-zero when the answer failed or
was cut short.

With no saved token, jan chat gets a guest token (and says so).`,
		Example: `  jan chat
  jan chat --conversation conv_0123
  jan chat --project Research
  jan chat -p "What is a monad?"
  git diff | jan chat -p "Write a commit message for this diff" --model qwen3
  jan chat -p "hi" --json | jq -r 'select(.object=="chat.completion.chunk") | .choices[0].delta.content // empty'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runChat(cmd.Context(), o) },
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Conversation, "conversation", "", "resume the conversation with this `id` (conv_…)")
	f.StringVar(&o.Model, "model", "", "model `id` to answer with (see jan models; default the conversation's last, else the server's)")
	f.StringVarP(&o.Prompt, "prompt", "p", "", "send this prompt, print the answer and exit")
	f.BoolVar(&o.JSON, "json", false, "with -p or piped input: print the run's events as JSON lines")
	f.StringVar(&o.Project, "project", "", "start new conversations in this `project` (its name or id; made when missing)")
	cmd.AddCommand(newChatExportCmd())
	return cmd
}

func runChat(ctx context.Context, o *chatOptions) error {
	plain := o.Prompt != "" || !o.IO.InTTY || !o.IO.OutTTY || o.JSON
	if !plain {
		return runChatTUI(ctx, o)
	}
	prompt, err := readPrompt(o)
	if err != nil {
		return err
	}
	s, err := o.session(true)
	if err != nil {
		return err
	}
	return runChatPlain(ctx, o, s, prompt)
}

// readPrompt joins -p and what stdin carries when it is not a terminal.
func readPrompt(o *chatOptions) (string, error) {
	prompt := o.Prompt
	if !o.IO.InTTY {
		b, err := io.ReadAll(io.LimitReader(o.IO.In, 4<<20))
		if err != nil {
			return "", fmt.Errorf("reading the prompt from stdin: %w", err)
		}
		if in := strings.TrimRight(string(b), "\n"); in != "" {
			if prompt != "" {
				prompt += "\n\n"
			}
			prompt += in
		}
	} else if prompt == "" {
		return "", errors.New("no prompt: pass one with -p, or pipe it in (jan chat opens the full-screen chat only when stdin and stdout are a terminal)")
	}
	if strings.TrimSpace(prompt) == "" {
		return "", errors.New("the prompt is empty")
	}
	return prompt, nil
}

// runChatPlain sends one prompt and streams the answer to stdout.
func runChatPlain(ctx context.Context, o *chatOptions, s *client.Session, prompt string) error {
	errOut := o.IO.ErrOut
	if err := ensureToken(ctx, s, errOut); err != nil {
		return err
	}
	if err := preflight(ctx, o, s); err != nil {
		return err
	}
	out := o.IO.Out
	var san safetext.Sanitizer
	var last byte
	project, err := chatProject(ctx, o, s)
	if err != nil {
		return err
	}
	convID, err := s.Ask(ctx, client.AskParams{Conversation: o.Conversation, Model: o.Model, Prompt: prompt, Project: project.ID}, func(ev client.Event) error {
		if o.JSON {
			_, err := out.Write(append(ev.Data, '\n'))
			return err
		}
		if ev.Type == client.EventDelta && ev.Text != "" {
			if t := san.Write(ev.Text); t != "" {
				if _, err := io.WriteString(out, t); err != nil {
					return err // stdout closed (| head): stop quietly
				}
				last = t[len(t)-1]
			}
		}
		return nil
	})
	if !o.JSON && last != 0 && last != '\n' {
		fmt.Fprintln(out)
	}
	if o.IO.ErrTTY && o.Conversation == "" && convID != "" {
		fmt.Fprintf(errOut, "(continue with: jan chat --conversation %s)\n", convID)
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{code: 130}
	case err != nil:
		return withHint(err, s.Server)
	}
	return nil
}

// runChatTUI opens the full-screen chat.
func runChatTUI(ctx context.Context, o *chatOptions) error {
	notices := make(chan string, 8)
	s, err := client.OpenSession(client.SessionOptions{
		Server: o.Server, Getenv: o.IO.Getenv, UserAgent: "jan/" + version, GuestFallback: true,
		Notice: func(msg string) {
			select {
			case notices <- msg:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	if err := preflight(ctx, o, s); err != nil {
		return err
	}
	project, err := chatProject(ctx, o, s)
	if err != nil {
		return err
	}
	statePath, err := client.StatePath(o.IO.Getenv)
	if err != nil {
		statePath = "" // nothing remembered between runs; the chat works regardless
	}
	return tui.Run(ctx, tui.Options{
		Client: s.Client, Server: s.Server, ConfigPath: s.ConfigPath, TokenFromEnv: s.FromEnv, StatePath: statePath,
		Conversation: o.Conversation, Model: o.Model, Notices: notices, Getenv: o.IO.Getenv, Project: project,
	})
}

// preflight checks what would otherwise fail after the prompt is stored:
// that --model is served here, and that a token from JAN_TOKEN is accepted
// (refused, it is an error, never a new guest).
func preflight(ctx context.Context, o *chatOptions, s *client.Session) error {
	if o.Model == "" && !s.FromEnv {
		return nil
	}
	models, err := s.Models(ctx)
	if err != nil {
		return withHint(err, s.Server)
	}
	if o.Model == "" {
		return nil
	}
	ids := make([]string, 0, len(models))
	for _, m := range models {
		if m.ID == o.Model {
			return nil
		}
		ids = append(ids, safetext.Sanitize(m.ID))
	}
	return fmt.Errorf("model %q is not served by %s; it serves: %s (jan models lists them)", o.Model, s.Server, strings.Join(ids, ", "))
}

// chatProject finds (or makes) the --project new conversations go into;
// an empty one (no project) without --project.
func chatProject(ctx context.Context, o *chatOptions, s *client.Session) (*client.Project, error) {
	if o.Project == "" {
		return &client.Project{}, nil
	}
	p, created, err := s.FindProject(ctx, o.Project)
	if err != nil {
		return nil, withHint(fmt.Errorf("project %q: %w", o.Project, err), s.Server)
	} else if created {
		fmt.Fprintf(o.IO.ErrOut, "Created project %q.\n", p.Name)
	}
	return p, nil
}
