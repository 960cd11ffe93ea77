package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

// serverService is what jan logs and jan status call the llm-api server.
const serverService = "llm-api"

type logsOptions struct {
	IO      *ioStreams
	Log     stack.LogOptions
	Service string // "" for every one
	Flags   *pflag.FlagSet
}

func newLogsCmd() *cobra.Command {
	o := &logsOptions{IO: systemIO()}
	cmd := &cobra.Command{
		Use:   "logs [service]",
		Short: "Show the logs of a service, or of all of them",
		Long: `Show the output of one of the stack's services (api-db, keycloak-db,
keycloak, kong, otel-collector, vllm-llama / vllm-cpu) or of the llm-api
server (llm-api, from the data dir's server.log). Without a service, every
one's, each line prefixed with its name.`,
		Example: `  jan logs keycloak --tail 50
  jan logs llm-api -f
  jan logs --since 10m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flags = cmd.Flags()
			if len(args) == 1 {
				o.Service = args[0]
			}
			return runLogs(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Log.Follow, "follow", "f", false, "keep printing new output")
	cmd.Flags().StringVar(&o.Log.Since, "since", "", "only output since a duration ago (10m) or a timestamp")
	cmd.Flags().StringVarP(&o.Log.Tail, "tail", "n", "all", "number of lines from the end to show, or all")
	dataDirFlag(cmd.Flags())
	return cmd
}

func runLogs(ctx context.Context, o *logsOptions) error {
	if _, _, err := o.Log.Lines(); err != nil {
		return err
	}
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	serverLog := filepath.Join(cfg.DataDir, stack.ServerLogFile)
	if o.Service == serverService {
		return stack.ServerLog(ctx, serverLog, o.Log, o.IO.Out)
	}
	if o.Service != "" && !stack.IsService(o.Service) {
		return fmt.Errorf("no service %q (services: %s, %s)", o.Service, strings.Join(stack.Services, ", "), serverService)
	}
	st, err := openStack(ctx)
	if err != nil {
		return err
	}
	if o.Service != "" {
		return st.Logs(ctx, o.Service, o.Log, o.IO.Out, o.IO.ErrOut)
	}
	return st.AllLogs(ctx, serverService, serverLog, o.Log, o.IO.Out)
}
