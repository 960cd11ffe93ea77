package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/proc"
	"github.com/janhq/jan/internal/progress"
	"github.com/janhq/jan/internal/stack"
)

type downOptions struct {
	IO      *ioStreams
	Volumes bool
	Flags   *pflag.FlagSet
}

func newDownCmd() *cobra.Command {
	o := &downOptions{IO: systemIO()}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the stack: the background server and the containers",
		Long: `Stop what jan up started: the background llm-api server (jan up -d),
then the stack's containers and network. Volumes (the databases, the model
cache) are kept, so the next jan up finds its data; --volumes removes them
too. Only containers, networks and volumes jan created are touched.`,
		Example: `  jan down
  jan down --volumes   # also delete the databases and the model cache`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = cmd.Flags()
			return runDown(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Volumes, "volumes", false, "also remove the stack's volumes: databases and model cache")
	dataDirFlag(cmd.Flags())
	return cmd
}

func runDown(ctx context.Context, o *downOptions) error {
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	st, err := openStack(ctx)
	if err != nil {
		return err
	}
	out := o.IO.Out
	if s, ok, _ := stack.LoadState(cfg.DataDir); ok && proc.Alive(s.ServerPID) && s.ServerPID != os.Getpid() {
		fmt.Fprintf(out, "Stopping the llm-api server (pid %d)…\n", s.ServerPID)
		if err := proc.Stop(s.ServerPID, cfg.ShutdownGrace+5*time.Second); err != nil {
			return err
		}
	}
	st.Report = progress.New(out, o.IO.OutTTY).Event
	res, err := st.Down(ctx, o.Volumes)
	if err != nil {
		return err
	}
	if err := stack.RemoveState(cfg.DataDir); err != nil {
		return err
	}
	switch {
	case len(res.Containers) == 0 && !res.Network && len(res.Volumes) == 0:
		fmt.Fprintln(out, "Nothing to stop: the stack is not up.")
	default:
		fmt.Fprintf(out, "Stopped: %d container(s) removed", len(res.Containers))
		if len(res.Volumes) > 0 {
			fmt.Fprintf(out, ", volumes %s removed", strings.Join(res.Volumes, ", "))
		}
		fmt.Fprintln(out, ".")
	}
	if !o.Volumes {
		if vols, _ := st.Volumes(ctx); len(vols) > 0 {
			fmt.Fprintf(out, "Data kept in volumes %s (jan down --volumes removes them).\n", strings.Join(vols, ", "))
		}
	}
	return nil
}
