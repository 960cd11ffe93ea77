package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/server"
)

func newUpCmd() *cobra.Command {
	var embedded bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start jan: the llm-api server and what it needs",
		Long: `Start jan.

With --embedded, jan runs the llm-api server on its embedded defaults: a
SQLite database in the data dir, the built-in identity issuer, and the
models of providers.yaml plus any local OpenAI-compatible engine it finds
(Ollama, LM Studio, Jan, vLLM) or --engine URLs.

The Docker stack (Kong, Keycloak, Postgres, OpenTelemetry collector, vLLM)
is not part of this build yet, so jan up always runs embedded for now.`,
		Example: `  jan up --embedded
  jan up --embedded --engine http://127.0.0.1:11434`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return err
			}
			if !embedded {
				cmd.PrintErrln("The Docker stack is not available in this build yet; starting on embedded defaults (--embedded).")
			}
			recordServer(cfg.PublicURL)
			return server.Run(cmd.Context(), cfg, newLogger(cfg, os.Stderr), cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&embedded, "embedded", false, "run on embedded defaults: SQLite, built-in identity, local engines")
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

// recordServer remembers the URL jan up serves on, so jan chat, jan guest and
// jan models find it without --server. A failure only costs that default.
func recordServer(url string) {
	path, err := client.ConfigPath(nil)
	if err != nil {
		return
	}
	c, err := client.LoadConfig(path)
	if err != nil {
		return
	}
	if c.Server == client.NormalizeURL(url) {
		return
	}
	c.Server = client.NormalizeURL(url)
	_ = c.Save(path)
}
