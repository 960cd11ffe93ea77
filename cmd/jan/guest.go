package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/janhq/jan/internal/client"
)

// clientOptions are the flags every client command shares.
type clientOptions struct {
	IO     *ioStreams
	Server string
}

func (o *clientOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Server, "server", "", "jan server `URL` (JAN_SERVER_URL; default the last one used, else "+client.DefaultServerURL+")")
}

// session opens the client; notices (a new guest token) go to stderr.
func (o *clientOptions) session(guestFallback bool) (*client.Session, error) {
	return client.OpenSession(client.SessionOptions{
		Server: o.Server, Getenv: o.IO.Getenv, UserAgent: "jan/" + version, GuestFallback: guestFallback,
		Notice: func(s string) { fmt.Fprintln(o.IO.ErrOut, s) },
	})
}

// ensureToken gets a guest token when the session has none, and says so:
// where it was saved, or that JAN_TOKEN keeps it for this run only.
func ensureToken(ctx context.Context, s *client.Session, errOut io.Writer) error {
	got, err := s.EnsureToken(ctx)
	if err != nil {
		return withHint(err, s.Server)
	}
	if got {
		where := "kept for this run only (JAN_TOKEN is set)"
		if !s.FromEnv {
			where = "saved to " + s.ConfigPath
		}
		fmt.Fprintf(errOut, "No saved token: signed in to %s as a new guest (%s).\n", s.Server, where)
	}
	return nil
}

// withHint adds what to do next to an error from the client.
func withHint(err error, server string) error {
	if h := client.Hint(err, server); h != "" {
		return fmt.Errorf("%w\n%s", err, h)
	}
	return err
}

type guestOptions struct {
	clientOptions
	Print, Shell, JSON bool
}

func newGuestCmd() *cobra.Command {
	o := &guestOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "guest",
		Short: "Get a guest token for a jan server",
		Long: `Get a guest token: an account with no password that can chat and keep
conversations on this server.

The token is saved in your user config ($XDG_CONFIG_HOME/jan/config.json,
mode 0600) for the server, and jan chat and jan models use it from then
on. With --print it is printed instead of saved; with --shell, as an
export line for eval. JAN_TOKEN, when set, overrides the saved token.`,
		Example: `  jan guest
  eval "$(jan guest --shell)"
  TOKEN=$(jan guest --print)
  jan guest --json | jq -r .access_token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGuest(cmd, o) },
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVar(&o.Print, "print", false, "print the access token instead of saving it")
	cmd.Flags().BoolVar(&o.Shell, "shell", false, "print `export JAN_TOKEN=…` for eval")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the server's token response as JSON")
	return cmd
}

func runGuest(cmd *cobra.Command, o *guestOptions) error {
	s, err := o.session(false)
	if err != nil {
		return err
	}
	tok, err := s.Guest(cmd.Context())
	if err != nil {
		return withHint(err, s.Server)
	}
	save := !o.Print
	if save {
		if err := s.Save(tok.Credentials()); err != nil {
			return fmt.Errorf("saving the token: %w", err)
		}
	}
	out := o.IO.Out
	switch {
	case o.JSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(tok)
	case o.Shell:
		fmt.Fprintf(out, "export JAN_TOKEN=%s\n", tok.AccessToken)
	case o.Print:
		fmt.Fprintln(out, tok.AccessToken)
	default:
		fmt.Fprintf(out, "Signed in to %s as guest %s.\n", s.Server, tok.User.Username)
		fmt.Fprintf(out, "Token saved to %s; jan chat and jan models use it.\n", s.ConfigPath)
	}
	if save && o.IO.ErrTTY && (o.Shell || o.JSON) {
		fmt.Fprintf(o.IO.ErrOut, "Token saved to %s.\n", s.ConfigPath)
	}
	return nil
}
