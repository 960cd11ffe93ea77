package keycloaktest

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The authorization code flow with PKCE, as Keycloak answers it: the
// authorization endpoint signs a browser in (the user SignInBrowser named,
// or the login form's username and password) and redirects with a code;
// the token endpoint trades the code, once, for tokens when the client,
// redirect_uri and PKCE verifier match.

type authCode struct {
	clientID, redirectURI, userID string
	challenge, method             string
	expires                       time.Time
}

// codeLifespan is Keycloak's default accessCodeLifespan.
const codeLifespan = time.Minute

// SignInBrowser makes the authorization endpoint treat the browser as
// signed in as username (as a Keycloak SSO cookie would): it redirects
// with a code at once instead of showing the login form.
func (d *Double) SignInBrowser(username string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.browserUser = username
}

var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func (d *Double) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		loginPage(w, http.StatusBadRequest, "Invalid Request", nil)
		return
	}
	q := r.Form
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.clients[q.Get("client_id")]
	if !ok || !c.enabled {
		loginPage(w, http.StatusBadRequest, "Client not found.", nil)
		return
	}
	redirect := q.Get("redirect_uri")
	if !c.allowsRedirect(redirect) {
		loginPage(w, http.StatusBadRequest, "Invalid parameter: redirect_uri", nil)
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		params.Set("iss", d.issuer(r))
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		http.Redirect(w, r, redirect+sep+params.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "Client is not allowed to initiate browser login with given response_type.")
		return
	case !c.standardFlow:
		fail("unauthorized_client", "Client is not allowed to initiate browser login with given response_type. Standard flow is disabled for the client.")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case c.pkceMethod != "" && method == "":
		fail("invalid_request", "Missing parameter: code_challenge_method")
		return
	case c.pkceMethod != "" && method != c.pkceMethod, method != "" && method != "S256" && method != "plain":
		fail("invalid_request", "Invalid parameter: code challenge method is not matching the configured one")
		return
	case method != "" && challenge == "":
		fail("invalid_request", "Missing parameter: code_challenge")
		return
	}

	// Who is signing in: the browser's session, else the login form.
	var u *user
	if r.Method == http.MethodPost {
		if u = d.findUserLocked("username", q.Get("username")); u == nil || u.passwordHash == "" || u.passwordHash != hashPassword(u.id, q.Get("password")) {
			loginPage(w, http.StatusOK, "Invalid username or password.", q)
			return
		}
	} else if d.browserUser != "" {
		u = d.findUserLocked("username", d.browserUser)
	}
	if u == nil {
		loginPage(w, http.StatusOK, "", q)
		return
	}
	if !u.enabled {
		loginPage(w, http.StatusOK, "Account is disabled, contact your administrator.", q)
		return
	}
	code := randomString(40)
	d.codes[code] = &authCode{clientID: c.clientID, redirectURI: redirect, userID: u.id, challenge: challenge, method: method,
		expires: d.now().Add(codeLifespan)}
	back(url.Values{"code": {code}, "session_state": {randomUUID()}})
}

// allowsRedirect matches Keycloak's redirect URI check: exact, or a
// registered URI ending in * as a prefix.
func (c *client) allowsRedirect(uri string) bool {
	if uri == "" {
		return false
	}
	for _, allowed := range c.redirectURIs {
		if prefix, wild := strings.CutSuffix(allowed, "*"); wild && strings.HasPrefix(uri, prefix) || allowed == uri {
			return true
		}
	}
	return false
}

// authorizationCode is the token endpoint's grant_type=authorization_code.
// Called with d.mu held.
func (d *Double) authorizationCode(w http.ResponseWriter, r *http.Request, c *client, form url.Values) {
	code, ok := d.codes[form.Get("code")]
	if form.Get("code") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing parameter: code")
		return
	}
	delete(d.codes, form.Get("code")) // single use, whatever happens next
	switch {
	case !ok || d.now().After(code.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Code not valid")
		return
	case code.clientID != c.clientID:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Auth error")
		return
	case code.redirectURI != form.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Incorrect redirect_uri")
		return
	}
	if code.method != "" {
		v := form.Get("code_verifier")
		switch {
		case v == "":
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE code verifier not specified")
			return
		case !verifierRE.MatchString(v):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE invalid code verifier")
			return
		}
		if code.method == "S256" {
			sum := sha256.Sum256([]byte(v))
			v = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if v != code.challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed: Code mismatch")
			return
		}
	}
	u := d.users[code.userID]
	if u == nil || !u.enabled {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "User not found or disabled")
		return
	}
	d.issueSession(w, r, u, c, "")
}

// loginPage is the login form (or an error page) a browser sees.
func loginPage(w http.ResponseWriter, status int, message string, q url.Values) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	var b strings.Builder
	b.WriteString("<!doctype html><title>Sign in to jan</title>")
	if message != "" {
		b.WriteString("<p id=\"message\">" + html.EscapeString(message) + "</p>")
	}
	if q != nil {
		b.WriteString(`<form method="post">`)
		for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
			b.WriteString(`<input type="hidden" name="` + k + `" value="` + html.EscapeString(q.Get(k)) + `">`)
		}
		b.WriteString(`<input name="username"><input name="password" type="password"><button>Sign In</button></form>`)
	}
	w.Write([]byte(b.String()))
}
