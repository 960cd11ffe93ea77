package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/janhq/jan/internal/client"
)

type loginOptions struct {
	clientOptions
	Username string
	Email    string
	Web      bool
}

func newLoginCmd() *cobra.Command {
	o := &loginOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "login [username]",
		Short: "Sign in to a jan server with a username and password, or in a browser",
		Long: `Sign in with a username and password; the tokens are saved in your user
config for the server (mode 0600), as jan guest does.

The password is asked for on a terminal; otherwise it is read from the
first line of stdin. With --web the sign-in page of the server's identity
provider opens in your browser ($BROWSER, else the system's) and jan waits
for it on a loopback port; the URL is printed for a browser elsewhere. That
needs a server in Keycloak mode, or one with an external issuer and jan's
client there (jan up --issuer URL --client-id ID).`,
		Example: `  jan login alice
  printf '%s\n' "$PASSWORD" | jan login alice --server https://jan.example.com
  jan login --web --server https://jan.example.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Username = args[0]
			}
			return runLogin(cmd, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Username, "username", "", "account `name`")
	cmd.Flags().BoolVar(&o.Web, "web", false, "sign in in a browser, at the server's identity provider")
	return cmd
}

func newUpgradeCmd() *cobra.Command {
	o := &loginOptions{clientOptions: clientOptions{IO: systemIO()}}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Turn your guest account into an account with a password",
		Long: `Give the guest account whose token is saved (or in JAN_TOKEN) a username,
e-mail and password. It keeps its conversations; the new tokens are saved.

The password is asked for on a terminal; otherwise it is read from the
first line of stdin.`,
		Example: `  jan upgrade --username alice --email alice@example.com`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runUpgrade(cmd, o) },
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Username, "username", "", "account `name` (required)")
	cmd.Flags().StringVar(&o.Email, "email", "", "e-mail `address` (required)")
	return cmd
}

func runLogin(cmd *cobra.Command, o *loginOptions) error {
	s, err := o.session(false)
	if err != nil {
		return err
	}
	if o.Web {
		return runWebLogin(cmd, o, s)
	}
	in := bufio.NewReader(o.IO.In)
	if o.Username == "" {
		if o.Username, err = askLine(o.IO, in, "Username: "); err != nil {
			return err
		}
	}
	password, err := askPassword(o.IO, in, "Password: ")
	if err != nil {
		return err
	}
	tok, err := s.Login(cmd.Context(), o.Username, password)
	if err != nil {
		return identityError(err, s.Server, "password sign-in")
	}
	return saveSignedIn(o, s, tok, "Signed in as")
}

func runWebLogin(cmd *cobra.Command, o *loginOptions, s *client.Session) error {
	tok, err := s.WebLogin(cmd.Context(), client.WebLoginOptions{
		Open: func(u string) error { return client.OpenBrowser(o.IO.Getenv, u) },
		Waiting: func(u string, openErr error) {
			if openErr != nil {
				fmt.Fprintf(o.IO.ErrOut, "Could not open a browser: %v\n", openErr)
			}
			fmt.Fprintf(o.IO.ErrOut, "Sign in in your browser. If it did not open, visit:\n  %s\nWaiting for the browser…\n", u)
		}})
	if err != nil {
		return identityError(err, s.Server, "browser sign-in")
	}
	return saveSignedIn(o, s, tok, "Signed in as")
}

func runUpgrade(cmd *cobra.Command, o *loginOptions) error {
	if o.Username == "" || o.Email == "" {
		return errors.New("--username and --email are required")
	}
	s, err := o.session(false)
	if err != nil {
		return err
	}
	if s.Credentials().AccessToken == "" {
		return fmt.Errorf("no guest token for %s: run `jan guest` (or jan chat) first, then upgrade", s.Server)
	}
	password, err := askPassword(o.IO, bufio.NewReader(o.IO.In), "New password: ")
	if err != nil {
		return err
	}
	tok, err := s.Upgrade(cmd.Context(), o.Username, o.Email, password)
	if err != nil {
		return identityError(err, s.Server, "account upgrade")
	}
	return saveSignedIn(o, s, tok, "Upgraded: your conversations now belong to")
}

func saveSignedIn(o *loginOptions, s *client.Session, tok *client.Tokens, what string) error {
	if s.FromEnv {
		fmt.Fprintf(o.IO.ErrOut, "JAN_TOKEN is set and overrides the saved token; unset it to use this sign-in.\n")
	}
	if err := s.Save(tok.Credentials()); err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	name := tok.User.Username
	if name == "" {
		name = o.Username
	}
	fmt.Fprintf(o.IO.Out, "%s %s on %s.\n", what, name, s.Server)
	return nil
}

// identityError says plainly when the server lacks the route.
func identityError(err error, server, what string) error {
	var e *client.Error
	if errors.As(err, &e) && (e.StatusCode == http.StatusNotFound || e.Code == "unsupported_grant_type") {
		return fmt.Errorf("%s at %s: %w\nThis server does not offer %s yet; `jan guest` gives you a guest account", what, server, err, what)
	}
	return withHint(err, server)
}

func askLine(io *ioStreams, in *bufio.Reader, prompt string) (string, error) {
	if io.InTTY {
		fmt.Fprint(io.ErrOut, prompt)
	}
	line, err := in.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", strings.TrimSuffix(strings.ToLower(prompt), ": "), err)
		}
		return "", fmt.Errorf("%s is empty", strings.TrimSuffix(strings.ToLower(prompt), ": "))
	}
	return line, nil
}

// askPassword reads without echo on a terminal, else the first line of stdin.
func askPassword(io *ioStreams, in *bufio.Reader, prompt string) (string, error) {
	if f, ok := io.In.(*os.File); ok && io.InTTY {
		fmt.Fprint(io.ErrOut, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(io.ErrOut)
		if err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", errors.New("the password is empty")
		}
		return string(b), nil
	}
	return askLine(&ioStreams{ErrOut: io.ErrOut}, in, prompt)
}
