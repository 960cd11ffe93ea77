package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/fakeengine"
)

// newDevCmd groups hidden tools for developing and testing jan.
func newDevCmd() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Tools for developing jan", Hidden: true}
	var o fakeengine.Options
	var addr string
	var models []string
	engine := &cobra.Command{
		Use:   "fake-engine",
		Short: "Run a deterministic OpenAI-compatible engine for tests and benchmarks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Models = models
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fake engine on http://%s (models %v)\n", ln.Addr(), models)
			srv := &http.Server{Handler: fakeengine.New(o), ReadHeaderTimeout: 10 * time.Second}
			go func() { <-cmd.Context().Done(); srv.Close() }()
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	engine.Flags().StringVar(&addr, "addr", "127.0.0.1:11500", "listen address")
	engine.Flags().StringSliceVar(&models, "model", []string{"fake-model"}, "model ids to serve")
	engine.Flags().IntVar(&o.Tokens, "tokens", 8, "tokens per answer")
	engine.Flags().DurationVar(&o.TTFT, "ttft", 0, "time to first token")
	engine.Flags().DurationVar(&o.TokenDelay, "token-delay", 0, "delay between tokens")
	dev.AddCommand(engine)
	return dev
}
