package keycloak_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/auth"
	"github.com/janhq/jan/internal/auth/keycloak"
)

func renderedRealm(t *testing.T) (*keycloak.RealmRepresentation, string) {
	t.Helper()
	const secret = `s3cr"et\with-json-specials`
	data, err := keycloak.RenderRealm(assets.RealmJSON, func(name string) (string, bool) {
		if name == "BACKEND_CLIENT_SECRET" {
			return secret, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	// ParseRealm refuses any field the Go mirrors of Keycloak's
	// representations do not declare: a typo in the realm file fails here.
	r, err := keycloak.ParseRealm(data)
	if err != nil {
		t.Fatal(err)
	}
	return r, secret
}

// TestRealmFile checks assets/realm-jan.json against what jan's Keycloak
// mode depends on.
func TestRealmFile(t *testing.T) {
	t.Parallel()
	r, secret := renderedRealm(t)

	if r.Realm != "jan" || r.Enabled == nil || !*r.Enabled {
		t.Fatalf("realm %q enabled=%v, want jan enabled", r.Realm, r.Enabled)
	}
	if r.RevokeRefreshToken == nil || !*r.RevokeRefreshToken || r.RefreshTokenMaxReuse == nil || *r.RefreshTokenMaxReuse != 0 {
		t.Error("refresh tokens must rotate: revokeRefreshToken true, refreshTokenMaxReuse 0")
	}
	if r.EditUsernameAllowed == nil || !*r.EditUsernameAllowed {
		t.Error("upgrade renames guest-… users: editUsernameAllowed must be true")
	}
	if r.DuplicateEmailsAllowed == nil || *r.DuplicateEmailsAllowed {
		t.Error("duplicateEmailsAllowed must be false (upgrade answers 409 email_taken)")
	}

	t.Run("roles", func(t *testing.T) {
		roles := map[string]keycloak.RoleRepresentation{}
		for _, ro := range r.Roles.Realm {
			roles[ro.Name] = ro
		}
		for _, name := range []string{"guest", "user", "admin"} {
			if _, ok := roles[name]; !ok {
				t.Errorf("realm role %q missing", name)
			}
		}
		if r.DefaultRole == nil {
			t.Fatal("no defaultRole")
		}
		def, ok := roles[r.DefaultRole.Name]
		if !ok || !def.Composite {
			t.Fatalf("default role %q must be a composite realm role", r.DefaultRole.Name)
		}
		for _, c := range def.Composites.Realm {
			if _, ok := roles[c]; !ok {
				t.Errorf("default role includes undefined role %q", c)
			}
			if c == "guest" || c == "user" || c == "admin" {
				t.Errorf("default role includes %q: jan assigns guest and user itself", c)
			}
		}
	})

	t.Run("backend client", func(t *testing.T) {
		c := r.Client("backend")
		if c == nil {
			t.Fatal("no backend client")
		}
		if !isFalse(c.PublicClient) || !isTrue(c.ServiceAccountsEnabled) || c.ClientAuthenticatorType != "client-secret" {
			t.Errorf("backend must be confidential (client-secret) with a service account: %+v", c)
		}
		if c.Secret != secret {
			t.Errorf("backend secret = %q, want the rendered ${BACKEND_CLIENT_SECRET}", c.Secret)
		}
		if c.Attributes["standard.token.exchange.enabled"] != "true" {
			t.Error(`backend needs attribute standard.token.exchange.enabled="true"`)
		}
		if isTrue(c.StandardFlowEnabled) || isTrue(c.ImplicitFlowEnabled) {
			t.Error("backend is machine-to-machine: no browser flows")
		}
		var sa *keycloak.UserRepresentation
		for i := range r.Users {
			if r.Users[i].ServiceAccountClientID == "backend" {
				sa = &r.Users[i]
			}
		}
		if sa == nil {
			t.Fatal("no service-account user for backend")
		}
		// view-realm: GET roles/{name}; impersonation: legacy token exchange.
		for _, role := range []string{"manage-users", "view-users", "query-users", "view-realm", "impersonation"} {
			if !slices.Contains(sa.ClientRoles["realm-management"], role) {
				t.Errorf("backend's service account lacks realm-management role %q", role)
			}
		}
		for _, role := range sa.ClientRoles["realm-management"] {
			if role == "realm-admin" || role == "manage-realm" || strings.HasPrefix(role, "manage-clients") {
				t.Errorf("backend's service account has %q: more than it needs", role)
			}
		}
	})

	t.Run("llm-api client", func(t *testing.T) {
		c := r.Client("llm-api")
		if c == nil {
			t.Fatal("no llm-api client")
		}
		if !isTrue(c.PublicClient) || !isTrue(c.DirectAccessGrantsEnabled) || c.Secret != "" {
			t.Errorf("llm-api must be public with direct access grants and no secret: %+v", c)
		}
		mapper := func(id string) *keycloak.ProtocolMapperRepresentation {
			for i := range c.ProtocolMappers {
				if c.ProtocolMappers[i].ProtocolMapper == id {
					return &c.ProtocolMappers[i]
				}
			}
			t.Fatalf("llm-api has no %s mapper", id)
			return nil
		}
		for _, m := range c.ProtocolMappers {
			if m.Protocol != "openid-connect" || m.Config["access.token.claim"] != "true" {
				t.Errorf("mapper %q must be openid-connect and put its claim in access tokens", m.Name)
			}
		}
		if m := mapper("oidc-usermodel-property-mapper"); m.Config["user.attribute"] != "username" || m.Config["claim.name"] != "preferred_username" {
			t.Errorf("preferred_username mapper: %v", m.Config)
		}
		if m := mapper("oidc-usermodel-attribute-mapper"); m.Config["user.attribute"] != "guest" || m.Config["claim.name"] != "guest" || m.Config["jsonType.label"] != "boolean" {
			t.Errorf("guest mapper: %v", m.Config)
		}
		if m := mapper("oidc-audience-mapper"); m.Config["included.client.audience"] != "llm-api" {
			t.Errorf("audience mapper: %v", m.Config)
		}
	})

	t.Run("user profile declares guest", func(t *testing.T) {
		up, err := r.UserProfile()
		if err != nil || up == nil {
			t.Fatalf("user profile: %v, %v (Keycloak 24+ drops undeclared attributes)", up, err)
		}
		names := map[string]keycloak.UPAttribute{}
		for _, a := range up.Attributes {
			names[a.Name] = a
			if a.Required != nil {
				t.Errorf("attribute %q is required: guests have nothing but a username", a.Name)
			}
		}
		for _, n := range []string{"username", "email", "firstName", "lastName", "guest"} {
			if _, ok := names[n]; !ok {
				t.Errorf("user profile lacks %q (a profile replaces Keycloak's default wholesale)", n)
			}
		}
		if g := names["guest"]; g.Permissions == nil || slices.Contains(g.Permissions.Edit, "user") {
			t.Error("users must not be able to edit their own guest attribute")
		}
	})

	t.Run("password policy admits what jan validates", func(t *testing.T) {
		m := regexp.MustCompile(`length\((\d+)\)`).FindStringSubmatch(r.PasswordPolicy)
		if m == nil {
			t.Fatalf("password policy %q has no length", r.PasswordPolicy)
		}
		if n, _ := strconv.Atoi(m[1]); n > auth.MinPasswordLength {
			t.Errorf("Keycloak's length(%d) is stricter than auth.MinPasswordLength %d", n, auth.MinPasswordLength)
		}
	})

	t.Run("VERIFY_PROFILE off", func(t *testing.T) {
		for _, a := range r.RequiredActions {
			if a.Alias == "VERIFY_PROFILE" && a.Enabled {
				t.Error("VERIFY_PROFILE would block the password grant of accounts without first/last name")
			}
		}
	})
}

func TestRealmFileHasOnlyItsTwoPlaceholders(t *testing.T) {
	t.Parallel()
	// Keycloak's import resolves every ${...} from its environment, which
	// compose.yaml sets: any other would be replaced (or refused) at import
	// time. The public URL has a default; the secret has none.
	got := regexp.MustCompile(`\$\{[^}]*\}`).FindAllString(string(assets.RealmJSON), -1)
	if !slices.Equal(got, []string{"${BACKEND_CLIENT_SECRET}", "${JAN_PUBLIC_URL:http://localhost:8080}"}) {
		t.Fatalf("placeholders = %q, want ${BACKEND_CLIENT_SECRET} and ${JAN_PUBLIC_URL:http://localhost:8080}", got)
	}
	for _, name := range []string{"BACKEND_CLIENT_SECRET", "JAN_PUBLIC_URL"} {
		if !strings.Contains(string(assets.ComposeYAML), "      "+name+": ${"+name) {
			t.Errorf("compose.yaml does not give Keycloak %s", name)
		}
	}
	if _, err := keycloak.RenderRealm(assets.RealmJSON, func(string) (string, bool) { return "", false }); err == nil ||
		!strings.Contains(err.Error(), "BACKEND_CLIENT_SECRET") {
		t.Fatalf("rendering without the secret: %v, want an error naming BACKEND_CLIENT_SECRET", err)
	}
}

func TestRenderRealmDefaults(t *testing.T) {
	t.Parallel()
	out, err := keycloak.RenderRealm([]byte(`{"a":"${X:dflt}","b":"${Y}"}`), func(n string) (string, bool) {
		if n == "Y" {
			return "y", true
		}
		return "", false
	})
	if err != nil || string(out) != `{"a":"dflt","b":"y"}` {
		t.Fatalf("RenderRealm = %s, %v", out, err)
	}
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }
