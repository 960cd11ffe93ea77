package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/client"
	"github.com/janhq/jan/internal/safetext"
)

type exportOptions struct {
	clientOptions
	Format string
	Output string
}

func newChatExportCmd() *cobra.Command {
	o := &exportOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "export CONVERSATION",
		Short: "Write a conversation out as Markdown or JSON",
		Long: `Write a conversation, as the server stores it, to stdout (or -o FILE):
Markdown (the title, then each message under its speaker) or JSON (the
conversation object and every message, as the API returns them).

CONVERSATION is its id (conv_…); jan chat's sidebar and /export use the
same conversations. Escape sequences in messages are neutralised in
Markdown; JSON keeps the text exactly (as JSON strings).`,
		Example: `  jan chat export conv_0123 > trip.md
  jan chat export conv_0123 --format json | jq '.messages | length'
  jan chat export conv_0123 -o trip.md`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("name one conversation by its id: jan chat export conv_… (ids are in jan chat's sidebar, /export saves the open one)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runChatExport(cmd, o, args[0]) },
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Format, "format", "md", "`md` or json")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write to this `file` instead of stdout (not over an existing one)")
	return cmd
}

func runChatExport(cmd *cobra.Command, o *exportOptions, id string) error {
	if o.Format != "md" && o.Format != "json" {
		return fmt.Errorf("--format %q: want md or json", o.Format)
	}
	s, err := o.session(false)
	if err != nil {
		return err
	}
	if s.Credentials().AccessToken == "" {
		return errors.New("no saved token for " + s.Server + ": your conversations are the token's (run jan chat or jan guest first, or set JAN_TOKEN)")
	}
	ctx := cmd.Context()
	conv, err := s.GetConversation(ctx, id)
	if err != nil {
		return withHint(fmt.Errorf("conversation %s: %w", id, err), s.Server)
	}
	msgs, err := s.AllMessages(ctx, id)
	if err != nil {
		return withHint(fmt.Errorf("messages of %s: %w", id, err), s.Server)
	}
	var out []byte
	if o.Format == "json" {
		if out, err = client.ExportJSON(conv, msgs); err != nil {
			return err
		}
	} else {
		out = []byte(client.ExportMarkdown(conv, msgs, safetext.Sanitize))
	}
	if o.Output == "" {
		_, err = o.IO.Out.Write(out)
		return err
	}
	f, err := os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote %s (%d messages).\n", o.Output, len(msgs))
	return nil
}
