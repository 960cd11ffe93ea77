package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/server"
)

type serveOptions struct {
	IO    *ioStreams
	Flags *pflag.FlagSet
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{IO: systemIO()}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the llm-api server in the foreground",
		Long: `Run the llm-api server in the foreground with the settings you give it.

The database defaults to SQLite in the data dir; --db postgres://… uses
Postgres. Models come from --providers (a providers.yaml), --engine URLs and
local engines found automatically (Ollama :11434, LM Studio :1234, Jan :1337,
vLLM :8000). Tokens come from the embedded issuer unless --issuer is set.

Ctrl+C stops gracefully: requests in flight get time to finish and streams
that are still running end with an error event, keeping their partial answers.`,
		Example: `  jan serve
  jan serve --engine http://127.0.0.1:11434 --addr 0.0.0.0:8080
  jan serve --db postgres://jan:secret@localhost:5432/jan --providers ./providers.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = cmd.Flags()
			return runServe(cmd.Context(), o)
		},
	}
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

func runServe(ctx context.Context, o *serveOptions) error {
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	return runServer(ctx, o.IO, cfg, o.IO.ErrOut)
}

// runServer runs the llm-api server in this process until ctx ends, logging
// to logs (as text on a terminal, JSON otherwise or as LOG_FORMAT says).
func runServer(ctx context.Context, streams *ioStreams, cfg config.Config, logs io.Writer) error {
	return server.Run(ctx, cfg, newLogger(cfg, logs), streams.Out)
}

// newLogger logs JSON when asked or when stderr is not a terminal, and
// readable text on a terminal.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if isTTY(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
