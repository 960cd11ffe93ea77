package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/store"
)

// The browser sign-in (Keycloak mode, or --issuer with a client there):
// GET /auth/login starts an authorization code flow with PKCE S256 at the
// identity provider — the
// state and verifier stay in the database, ten minutes, single use — and
// GET /auth/callback finishes it, sending the browser back to the
// allow-listed redirect_url with the tokens in its fragment (in its query
// for a loopback redirect_url that asks, as jan login --web does: a
// native app's listener never sees a fragment).

// browserLoginOf is the identity provider's browser sign-in, nil if it
// has none: Keycloak is one; an external issuer has one when jan has a
// client there.
func browserLoginOf(id auth.IdentityProvider) auth.BrowserLogin {
	if o, ok := id.(interface{ BrowserLogin() auth.BrowserLogin }); ok {
		return o.BrowserLogin()
	}
	b, _ := id.(auth.BrowserLogin)
	return b
}

// errNoBrowserLogin says what a server needs for the browser sign-in.
func errNoBrowserLogin() *apiError {
	return loginError(http.StatusNotFound, "browser_login_unavailable", "",
		"this server has no browser sign-in: it needs Keycloak mode, or an external issuer (--issuer) with jan's client id there (JAN_OIDC_CLIENT_ID); use POST /auth/guest or the password sign-in")
}

type loginSettings struct {
	callback string   // the redirect_uri the identity provider sends browsers to
	allowed  []string // redirect_url allow-list: exact, or prefix*
}

// callbackURL is the browser sign-in's redirect URI at the identity
// provider: publicURL's /auth/callback.
func callbackURL(publicURL string) string {
	return strings.TrimRight(publicURL, "/") + "/auth/callback"
}

// loginStateTTL is how long a browser has to sign in.
const loginStateTTL = 10 * time.Minute

// maxRedirectURL bounds a redirect_url (it is stored).
const maxRedirectURL = 2048

// allows says whether the sign-in may send a browser to u: a loopback
// http URL (RFC 8252 §7.3, native apps), or one the operator listed.
func (l loginSettings) allows(u string) bool {
	if isLoopbackHTTP(u) {
		return true
	}
	for _, a := range l.allowed {
		if prefix, wild := strings.CutSuffix(a, "*"); (wild && strings.HasPrefix(u, prefix)) || a == u {
			return true
		}
	}
	return false
}

func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// loginError is the browser sign-in's error: the envelope, {"error":…}.
func loginError(status int, code, param, msg string) *apiError {
	typ := "invalid_request_error"
	if status == http.StatusUnauthorized {
		typ = "auth_error"
	}
	return &apiError{Status: status, Type: typ, Code: code, Param: param, Message: msg}
}

func (s *Server) browserLogin(w http.ResponseWriter, r *http.Request) {
	bl := s.signIn
	if bl == nil {
		writeError(w, r, errNoBrowserLogin())
		return
	}
	q := r.URL.Query()
	redirect := q.Get("redirect_url")
	queryMode := q.Get("response_mode") == "query"
	switch {
	case redirect == "":
		writeError(w, r, loginError(http.StatusBadRequest, "missing_field", "redirect_url", "redirect_url is required"))
		return
	case len(redirect) > maxRedirectURL || strings.Contains(redirect, "#"):
		writeError(w, r, loginError(http.StatusBadRequest, "invalid_value", "redirect_url", "redirect_url must be at most 2048 characters, without a fragment"))
		return
	case !s.login.allows(redirect):
		writeError(w, r, loginError(http.StatusBadRequest, "redirect_not_allowed", "redirect_url",
			"redirect_url is not on this server's allow-list (JAN_LOGIN_REDIRECT_URLS)"))
		return
	case queryMode && !isLoopbackHTTP(redirect):
		writeError(w, r, loginError(http.StatusBadRequest, "invalid_value", "response_mode",
			"response_mode=query is for loopback redirect URLs only; other redirects get the tokens in the fragment"))
		return
	case q.Has("response_mode") && !queryMode && q.Get("response_mode") != "fragment":
		writeError(w, r, loginError(http.StatusBadRequest, "invalid_value", "response_mode", "response_mode must be fragment or query"))
		return
	}
	state, verifier := randomToken(32), randomToken(48)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if err := s.store.CreateLoginState(r.Context(), &store.LoginState{StateHash: hashState(state), Verifier: verifier,
		RedirectURL: redirect, QueryMode: queryMode, ExpiresAt: time.Now().Add(loginStateTTL)}); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"authorization_url": bl.AuthCodeURL(s.login.callback, state, challenge), "state": state})
}

func (s *Server) browserCallback(w http.ResponseWriter, r *http.Request) {
	bl := s.signIn
	if bl == nil {
		writeError(w, r, errNoBrowserLogin())
		return
	}
	q := r.URL.Query()
	state, code, idpErr := q.Get("state"), q.Get("code"), q.Get("error")
	switch {
	case state == "":
		writeError(w, r, loginError(http.StatusBadRequest, "missing_field", "state", "state is required"))
		return
	case code == "" && idpErr == "":
		writeError(w, r, loginError(http.StatusBadRequest, "missing_field", "code", "code is required"))
		return
	}
	ls, err := s.store.TakeLoginState(r.Context(), hashState(state))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, r, loginError(http.StatusUnauthorized, "invalid_state", "state",
			"this sign-in is unknown, already finished or older than ten minutes; start again"))
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	back := url.Values{}
	if idpErr != "" { // the user cancelled, or the identity provider refused
		back.Set("error", idpErr)
		if d := q.Get("error_description"); d != "" {
			back.Set("error_description", d)
		}
	} else if toks, acct, err := bl.ExchangeCode(r.Context(), code, s.login.callback, ls.Verifier); err != nil {
		ae := toAPIError(r.Context(), err)
		back.Set("error", "access_denied")
		back.Set("error_description", ae.Message)
	} else {
		back.Set("access_token", toks.AccessToken)
		if toks.RefreshToken != "" { // a provider may issue none
			back.Set("refresh_token", toks.RefreshToken)
		}
		back.Set("token_type", "Bearer")
		back.Set("expires_in", strconv.Itoa(toks.ExpiresIn))
		if acct != nil {
			back.Set("user_id", acct.ID)
			back.Set("username", acct.Username)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, withParams(ls.RedirectURL, back, ls.QueryMode), http.StatusFound)
}

// withParams adds params to u's fragment, or to its query.
func withParams(u string, params url.Values, query bool) string {
	if !query {
		return u + "#" + params.Encode()
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + params.Encode()
}

// hashState is what the database keeps of a state: a leaked table holds
// no usable one.
func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// randomToken is n random bytes, base64url: a state or a PKCE verifier
// (48 bytes → 64 characters, within PKCE's 43–128).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
