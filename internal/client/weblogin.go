package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// WebLoginOptions configure WebLogin.
type WebLoginOptions struct {
	// Open shows the sign-in page to the user (a browser); the URL is also
	// given to Waiting, so a user without a browser can copy it.
	Open func(url string) error
	// Waiting is told the URL once the sign-in has started, and whether
	// Open failed.
	Waiting func(url string, openErr error)
	// Timeout bounds the wait for the browser; default 5 minutes.
	Timeout time.Duration
}

// WebLogin signs in through the server's browser sign-in (GET /auth/login,
// Keycloak mode), the way `gh auth login --web` feels: it listens on a
// loopback port, has the browser sign in at the identity provider, and
// takes the tokens jan's /auth/callback sends back to that port. A random
// path makes the listener answer only the browser it sent.
func (c *Client) WebLogin(ctx context.Context, o WebLoginOptions) (*Tokens, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the browser: %w", err)
	}
	defer ln.Close()
	path := "/callback/" + NewIdempotencyKey() // unguessable
	redirect := "http://" + ln.Addr().String() + path
	var start struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	q := url.Values{"redirect_url": {redirect}, "response_mode": {"query"}}
	r, _ := newRequest(http.MethodGet, "/auth/login?"+q.Encode(), nil)
	r.public = true
	if err := c.call(ctx, r, &start); err != nil {
		return nil, err
	}

	type result struct {
		tok *Tokens
		err error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != path {
			http.NotFound(w, req)
			return
		}
		res := callbackResult(req.URL.Query())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "<!doctype html><title>jan</title><p>Sign-in failed. Go back to the terminal.</p>")
		} else {
			fmt.Fprint(w, "<!doctype html><title>jan</title><p>Signed in to jan. You can close this tab and go back to the terminal.</p>")
		}
		select {
		case done <- res:
		default:
		}
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()

	openErr := error(nil)
	if o.Open != nil {
		openErr = o.Open(start.AuthorizationURL)
	}
	if o.Waiting != nil {
		o.Waiting(start.AuthorizationURL, openErr)
	}
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.tok, res.err
	case <-timer.C:
		return nil, fmt.Errorf("no sign-in came back from the browser within %s", o.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// callbackResult reads what /auth/callback sent the browser back with.
func callbackResult(q url.Values) (r struct {
	tok *Tokens
	err error
}) {
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		r.err = errors.New("the sign-in was refused (" + msg + ")")
		return r
	}
	// A provider may issue no refresh token (without offline_access, say):
	// the sign-in then lasts as long as its access token.
	if q.Get("access_token") == "" {
		r.err = errors.New("the browser came back without tokens")
		return r
	}
	expires, _ := strconv.Atoi(q.Get("expires_in"))
	r.tok = &Tokens{AccessToken: q.Get("access_token"), RefreshToken: q.Get("refresh_token"), TokenType: "Bearer", ExpiresIn: expires,
		User: User{ID: q.Get("user_id"), Username: q.Get("username")}}
	return r
}

// OpenBrowser opens url in the user's browser: $BROWSER (a command, with
// arguments) when set, else the platform's opener.
func OpenBrowser(getenv func(string) string, url string) error {
	var argv []string
	if b := strings.Fields(getenv("BROWSER")); len(b) > 0 {
		argv = append(b, url)
	} else {
		switch runtime.GOOS {
		case "darwin":
			argv = []string{"open", url}
		case "windows":
			argv = []string{"rundll32", "url.dll,FileProtocolHandler", url}
		default:
			argv = []string{"xdg-open", url}
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() //nolint:errcheck // the browser outlives us or not; nothing to report
	return nil
}
