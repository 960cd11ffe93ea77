package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

// serverLoad reads a ready server's load from its /metrics; nil when it
// cannot (not running, or /metrics kept from this user).
func serverLoad(ctx context.Context, cfg config.Config, srv stack.ServerStatus) *client.ServerMetrics {
	if !srv.Ready {
		return nil
	}
	addr := srv.Addr
	if cfg.MetricsAddr != "" {
		addr = cfg.MetricsAddr
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	m, err := client.New(client.Options{BaseURL: "http://" + config.Dialable(addr)}).Metrics(ctx, cfg.MetricsToken)
	if err != nil {
		return nil
	}
	return m
}

type statusOptions struct {
	IO    *ioStreams
	JSON  bool
	Flags *pflag.FlagSet
}

func newStatusCmd() *cobra.Command {
	o := &statusOptions{IO: systemIO()}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the stack: services, health, ports, images, profile, URLs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = cmd.Flags()
			return runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the status as JSON")
	dataDirFlag(cmd.Flags())
	return cmd
}

func runStatus(ctx context.Context, o *statusOptions) error {
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	st, err := openStack(ctx)
	if err != nil {
		return err
	}
	ov, err := st.Overview(ctx, cfg.DataDir, cfg.Addr)
	if err != nil {
		return err
	}
	out := o.IO.Out
	load := serverLoad(ctx, cfg, ov.Server)
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*stack.Overview
			Load *client.ServerMetrics `json:"load,omitempty"`
		}{ov, load})
	}
	if len(ov.Services) == 0 {
		fmt.Fprintln(out, "The stack is not up (no jan containers). Start it with jan up.")
	} else {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tPORTS\tIMAGE")
		for _, s := range ov.Services {
			health := s.Health
			if health == "" {
				health = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Service, s.State, health, strings.Join(s.Ports, ","), s.Image)
		}
		srv := "not running"
		if ov.Server.Ready {
			srv = "ready"
		}
		switch {
		case ov.Server.PID > 0 && ov.State.Foreground:
			srv += fmt.Sprintf(" (jan up in a terminal, pid %d)", ov.Server.PID)
		case ov.Server.PID > 0:
			srv += fmt.Sprintf(" (background, pid %d)", ov.Server.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t\t%s\t(jan)\n", serverService, srv, ov.Server.Addr)
		tw.Flush()
	}
	if load != nil {
		ttft := "no stream yet"
		if load.TTFTp50Seconds != nil {
			ttft = fmt.Sprintf("%.0f ms", *load.TTFTp50Seconds*1000)
		}
		fmt.Fprintf(out, "\nLoad:    %d requests in the last minute · time to first token p50 %s · %d streams open\n",
			load.RequestsPerMinute, ttft, load.ActiveStreams)
	}
	if ov.Profile != "" {
		fmt.Fprintf(out, "\nProfile: %s — %s\n", ov.Profile, ov.Reason)
		if ov.Model != "" {
			fmt.Fprintf(out, "Model:   %s\n", ov.Model)
		}
		for _, u := range ov.State.URLs {
			fmt.Fprintf(out, "  %-16s %s\n", u[0], u[1])
		}
	}
	return nil
}
