package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Account is the user a set of tokens belongs to, as the /auth routes show it.
type Account struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email,omitempty"`
	Guest    bool   `json:"guest"`
}

// Upgrade is what a guest gives to become a full user.
type Upgrade struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// IdentityProvider is the account backend behind the /auth routes: jan's
// embedded issuer, or Keycloak. Both hand out tokens that Verifier accepts,
// and a principal keeps its ID (and so its data) across Upgrade.
type IdentityProvider interface {
	// Guest creates a guest account and returns its tokens.
	Guest(ctx context.Context) (*Tokens, *Account, error)
	// Refresh exchanges a refresh token for new tokens; the old one stops working.
	Refresh(ctx context.Context, refreshToken string) (*Tokens, *Account, error)
	// Upgrade turns the guest p into a user with credentials and returns
	// fresh tokens; the guest's refresh tokens stop working.
	Upgrade(ctx context.Context, p *Principal, u Upgrade) (*Tokens, *Account, error)
	// Logout revokes a refresh token; an unknown or used one is not an error.
	Logout(ctx context.Context, refreshToken string) error
	// Verifier checks the access tokens this provider issues.
	Verifier() Verifier
}

// Problem codes of an identity provider that failed (Keycloak, or an
// external issuer jan has a client at).
const (
	CodeIdentityUnavailable = "identity_unavailable" // 503: unreachable or not answering
	CodeIdentityError       = "identity_error"       // 502: answered with an error or garbage
)

// Problem is an identity failure to show the client as it is: a rejected
// upgrade (400 naming the rule, 409 on a taken name or a non-guest), or an
// identity provider that is down (503) or misbehaving (502).
type Problem struct {
	Status  int
	Code    string
	Param   string
	Message string
	Err     error // the cause, for logs
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return p.Message + ": " + p.Err.Error()
	}
	return p.Message
}

func (p *Problem) Unwrap() error { return p.Err }

func invalidField(param, code, format string, args ...any) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

var usernameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{2,31}$`)

// MinPasswordLength is the shortest password an upgrade accepts.
const MinPasswordLength = 10

// ValidateUpgrade checks an upgrade request the same way in both identity
// modes; the error names the field and the rule.
func ValidateUpgrade(u Upgrade) error {
	switch {
	case u.Username == "":
		return invalidField("username", "missing_field", "username is required")
	case !usernameRE.MatchString(u.Username):
		return invalidField("username", "invalid_username", "username must be 3 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit")
	case strings.HasPrefix(strings.ToLower(u.Username), "guest-"):
		return invalidField("username", "invalid_username", "usernames starting with \"guest-\" are reserved for guests")
	case u.Email == "":
		return invalidField("email", "missing_field", "email is required")
	}
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || !strings.Contains(u.Email[strings.LastIndex(u.Email, "@"):], ".") {
		return invalidField("email", "invalid_email", "email %q is not a valid address", u.Email)
	}
	return validatePassword(u.Password, u.Username, u.Email)
}

func validatePassword(pw, username, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		return invalidField("password", "missing_field", "password is required")
	case n < MinPasswordLength:
		return invalidField("password", "weak_password", "password must be at least %d characters", MinPasswordLength)
	case n > 256:
		return invalidField("password", "weak_password", "password must be at most 256 characters")
	case strings.EqualFold(pw, username) || strings.EqualFold(pw, email):
		return invalidField("password", "weak_password", "password must not be the username or the email")
	}
	var letters, others bool
	distinct := map[rune]bool{}
	for _, r := range pw {
		distinct[r] = true
		if unicode.IsLetter(r) {
			letters = true
		} else {
			others = true
		}
	}
	if !letters || !others {
		return invalidField("password", "weak_password", "password must mix letters with digits or symbols")
	}
	if len(distinct) < 5 {
		return invalidField("password", "weak_password", "password must use at least 5 different characters")
	}
	return nil
}

// External is the identity provider for tokens of an issuer jan does not
// run (--issuer): accounts live there, so guest and upgrade say so. With
// an OAuth client there (Client, JAN_OIDC_CLIENT_ID) jan also signs
// browsers in to it and refreshes and revokes the tokens that sign-in got;
// without one, clients bring tokens they got elsewhere.
type External struct {
	Issuer string
	V      Verifier
	Client *OIDCClient // nil: verify only
}

var _ IdentityProvider = External{}

func (e External) managedElsewhere() error {
	return &Problem{Status: http.StatusBadRequest, Code: "accounts_external",
		Message: fmt.Sprintf("accounts are managed by %s; get tokens there", e.Issuer)}
}

func (e External) Guest(context.Context) (*Tokens, *Account, error) {
	return nil, nil, e.managedElsewhere()
}

func (e External) Refresh(ctx context.Context, refreshToken string) (*Tokens, *Account, error) {
	if e.Client == nil {
		return nil, nil, e.managedElsewhere()
	}
	return e.Client.Refresh(ctx, refreshToken)
}

func (e External) Upgrade(context.Context, *Principal, Upgrade) (*Tokens, *Account, error) {
	return nil, nil, e.managedElsewhere()
}

func (e External) Logout(ctx context.Context, refreshToken string) error {
	if e.Client == nil {
		return e.managedElsewhere()
	}
	return e.Client.Logout(ctx, refreshToken)
}

func (e External) Verifier() Verifier { return e.V }

// BrowserLogin is the sign-in at the provider; nil without a client.
func (e External) BrowserLogin() BrowserLogin {
	if e.Client == nil {
		return nil
	}
	return e.Client
}
