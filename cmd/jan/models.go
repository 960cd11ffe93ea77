package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/safetext"
)

type modelsOptions struct {
	clientOptions
	JSON bool
}

func newModelsCmd() *cobra.Command {
	o := &modelsOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models a jan server serves",
		Long: `List the models the jan server serves, as GET /v1/models returns them.

On a terminal the list is a table; piped, it is one model per line with
tab-separated fields (id, owner, capabilities); --json prints the list as
JSON. With no saved token, a guest token is fetched and saved first.`,
		Example: `  jan models
  jan models --json | jq -r '.[].id'
  jan models --server http://gpu-box:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runModels(cmd, o) },
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the models as JSON")
	return cmd
}

func runModels(cmd *cobra.Command, o *modelsOptions) error {
	s, err := o.session(true)
	if err != nil {
		return err
	}
	if err := ensureToken(cmd.Context(), s, o.IO.ErrOut); err != nil {
		return err
	}
	models, err := s.Models(cmd.Context())
	if err != nil {
		return withHint(err, s.Server)
	}
	out := o.IO.Out
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(models)
	}
	if !o.IO.OutTTY {
		for _, m := range models {
			fmt.Fprintf(out, "%s\t%s\t%s\n", m.ID, m.OwnedBy, strings.Join(m.Capabilities, ","))
		}
		return nil
	}
	if len(models) == 0 {
		fmt.Fprintf(out, "%s serves no models yet: start a local engine (Ollama, LM Studio, vLLM) or pass --engine to jan serve.\n", s.Server)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tOWNED BY\tCAPABILITIES\tSINCE")
	for _, m := range models {
		since := "-"
		if m.Created > 0 {
			since = time.Unix(m.Created, 0).Format("2006-01-02")
		}
		// Names come from engines: keep their control characters off the terminal.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", safetext.Sanitize(m.ID), safetext.Sanitize(m.OwnedBy),
			safetext.Sanitize(strings.Join(m.Capabilities, ", ")), since)
	}
	return tw.Flush()
}
