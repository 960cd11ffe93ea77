package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/server"
)

func newServeCmd() *cobra.Command {
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
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg, newLogger(cfg, os.Stderr), cmd.OutOrStdout())
		},
	}
	config.RegisterServeFlags(cmd.Flags())
	return cmd
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
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
