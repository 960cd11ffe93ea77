package keycloak

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// How a new guest gets its first tokens.
const (
	// GuestGrantTokenExchange impersonates the new user with Keycloak's token
	// exchange (the service-account token as subject_token, the user as
	// requested_subject). It needs Keycloak's legacy token exchange: the
	// token-exchange and admin-fine-grained-authz:v1 features (plain
	// "admin-fine-grained-authz" before Keycloak 26), and permission for
	// "backend" to exchange to "llm-api". Keycloak 26's standard token
	// exchange (V2) does not impersonate and refuses requested_subject.
	GuestGrantTokenExchange = "token-exchange"
	// GuestGrantPassword gives the new guest a random 256-bit password that
	// is never stored or shown, and logs it in with the password grant on
	// the llm-api client. It works on a stock Keycloak 24+ with only the
	// realm import.
	GuestGrantPassword = "password"
)

// Config says where Keycloak is and how jan talks to it. Zero values of the
// optional fields get the defaults ConfigFromEnv documents.
type Config struct {
	// BaseURL is Keycloak's address as it appears in its tokens' issuer,
	// e.g. "http://localhost:8080" (a "/auth" suffix for Keycloak before 17).
	BaseURL string
	// Realm is the realm name; default "jan".
	Realm string
	// BackendClientID and BackendClientSecret are the confidential client
	// whose service account creates guests; default id "backend".
	BackendClientID     string
	BackendClientSecret string
	// TargetClientID is the public client whose tokens jan accepts (their
	// audience) and that upgraded users log in with; default "llm-api".
	TargetClientID string
	// GuestRole is the realm role of guests; default "guest".
	GuestRole string
	// GuestGrant is GuestGrantTokenExchange (default) or GuestGrantPassword.
	GuestGrant string
	// HTTPClient makes every call to Keycloak; default a client whose
	// requests each time out after 10 s.
	HTTPClient *http.Client
}

// The seed's environment variable names, which errors name (jan's config
// package reads them).
const (
	EnvBaseURL             = "KEYCLOAK_BASE_URL"
	EnvRealm               = "KEYCLOAK_REALM"
	EnvBackendClientID     = "BACKEND_CLIENT_ID"
	EnvBackendClientSecret = "BACKEND_CLIENT_SECRET"
	EnvTargetClientID      = "TARGET_CLIENT_ID"
	EnvGuestRole           = "GUEST_ROLE"
	EnvGuestGrant          = "KEYCLOAK_GUEST_GRANT"
)

// Check reports what is wrong with c, naming the environment variable to
// fix: KEYCLOAK_BASE_URL and BACKEND_CLIENT_SECRET are required; empty
// optional fields get their defaults (realm "jan", clients "backend" and
// "llm-api", role "guest", guest grant "token-exchange").
func (c Config) Check() error { return c.withDefaults().validate() }

func (c Config) withDefaults() Config {
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.Realm = orDefault(c.Realm, "jan")
	c.BackendClientID = orDefault(c.BackendClientID, "backend")
	c.TargetClientID = orDefault(c.TargetClientID, "llm-api")
	c.GuestRole = orDefault(c.GuestRole, "guest")
	c.GuestGrant = orDefault(c.GuestGrant, GuestGrantTokenExchange)
	return c
}

// validate names the environment variable to fix, never its value when the
// value is a secret.
func (c Config) validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, fmt.Errorf("%s is required (Keycloak's address, e.g. http://localhost:8080)", EnvBaseURL))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("%s=%q is not an absolute http(s) URL", EnvBaseURL, c.BaseURL))
	}
	if c.BackendClientSecret == "" {
		errs = append(errs, fmt.Errorf("%s is required (the secret of the %q client)", EnvBackendClientSecret, c.BackendClientID))
	}
	if strings.ContainsAny(c.Realm, "/?#% ") {
		errs = append(errs, fmt.Errorf("%s=%q is not a realm name", EnvRealm, c.Realm))
	}
	if strings.ContainsAny(c.GuestRole, "/?#% ") {
		errs = append(errs, fmt.Errorf("%s=%q is not a role name", EnvGuestRole, c.GuestRole))
	}
	if c.GuestGrant != GuestGrantTokenExchange && c.GuestGrant != GuestGrantPassword {
		errs = append(errs, fmt.Errorf("%s=%q: want %q or %q", EnvGuestGrant, c.GuestGrant, GuestGrantTokenExchange, GuestGrantPassword))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keycloak config: %w", err)
	}
	return nil
}

// IssuerURL is the realm's issuer: tokens' iss and the discovery base.
func (c Config) IssuerURL() string {
	return strings.TrimRight(c.BaseURL, "/") + "/realms/" + c.Realm
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
