package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/janhq/jan/internal/config"
	"github.com/janhq/jan/internal/stack"
)

type doctorOptions struct {
	IO    *ioStreams
	Stack stackOptions
	Flags *pflag.FlagSet
}

func newDoctorCmd() *cobra.Command {
	o := &doctorOptions{IO: systemIO()}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check everything jan up needs, with a fix for each problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = cmd.Flags()
			return runDoctor(cmd.Context(), o)
		},
	}
	o.Stack.register(cmd.Flags())
	config.RegisterServeFlags(cmd.Flags())
	return cmd
}

func runDoctor(ctx context.Context, o *doctorOptions) error {
	cfg, err := config.Load(o.Flags, o.IO.Getenv)
	if err != nil {
		return err
	}
	mode, inf, without, err := o.Stack.choices(o.IO.Getenv)
	if err != nil {
		return err
	}
	env, err := config.Environ()
	if err != nil {
		return err
	}
	checks := stack.Doctor(ctx, stack.DoctorInput{DataDir: cfg.DataDir, Env: env, Images: o.Stack.Images, Publish: o.Stack.Publish,
		GPU: mode, Inference: inf, Engines: cfg.Engines, Fit: fitOf(cfg, without), ServerAddr: cfg.Addr})
	failed := 0
	for _, c := range checks {
		switch c.Status {
		case stack.CheckOK:
			fmt.Fprintf(o.IO.Out, "✓ %s: %s\n", c.Name, c.Detail)
		case stack.CheckWarn:
			fmt.Fprintf(o.IO.Out, "! %s: %s\n    fix: %s\n", c.Name, c.Detail, c.Fix)
		case stack.CheckFail:
			failed++
			fmt.Fprintf(o.IO.Out, "✗ %s: %s\n    fix: %s\n", c.Name, c.Detail, c.Fix)
		}
	}
	if failed > 0 {
		fmt.Fprintf(o.IO.Out, "\n%d problem(s) found.\n", failed)
		return &exitError{code: 1}
	}
	fmt.Fprintln(o.IO.Out, "\nAll checks passed.")
	return nil
}
