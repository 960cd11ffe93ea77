package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// serviceToken caches the backend client's service-account access token
// (client_credentials grant) until shortly before it expires.
type serviceToken struct {
	mu      sync.Mutex
	token   string
	renewAt time.Time
}

func (s *serviceToken) get(ctx context.Context, p *Provider) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Now().Before(s.renewAt) {
		return s.token, nil
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {p.cfg.BackendClientID},
		"client_secret": {p.cfg.BackendClientSecret},
	}
	var tr tokenResponse
	if _, err := p.do(ctx, call{op: "token (client_credentials)", method: http.MethodPost, url: p.tokenURL, form: form, out: &tr}); err != nil {
		if statusIs(err, http.StatusBadRequest, http.StatusUnauthorized) {
			return "", fmt.Errorf("%w (check %s and %s, and that the client has a service account)", err, EnvBackendClientID, EnvBackendClientSecret)
		}
		return "", err
	}
	if tr.AccessToken == "" {
		return "", &callError{Op: "token (client_credentials)", Status: http.StatusOK, Err: fmt.Errorf("%w: no access_token", errGarbage)}
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Minute
	}
	// Renew at 80% of the lifetime: a token never expires mid-request.
	s.token, s.renewAt = tr.AccessToken, time.Now().Add(ttl*4/5)
	return s.token, nil
}

func (s *serviceToken) drop(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// admin calls the Admin REST API under {BaseURL}/admin/realms/{realm} with
// the service-account token. A 401 (token revoked or expired early) gets one
// retry with a fresh token.
func (p *Provider) admin(ctx context.Context, c call, rel string) (http.Header, error) {
	c.url = p.adminURL + rel
	if c.op == "" {
		c.op = c.method + " " + opPath(rel)
	}
	for attempt := 0; ; attempt++ {
		tok, err := p.sa.get(ctx, p)
		if err != nil {
			return nil, err
		}
		c.bearer = tok
		h, err := p.do(ctx, c)
		if attempt == 0 && statusIs(err, http.StatusUnauthorized) {
			p.sa.drop(tok)
			continue
		}
		if statusIs(err, http.StatusForbidden) {
			err = fmt.Errorf("%w (the %q service account lacks a realm-management role: it needs manage-users, view-users, query-users and view-realm)", err, p.cfg.BackendClientID)
		}
		return h, err
	}
}

// opPath names an Admin API path for errors without ids or queries:
// "/users/3f2.../role-mappings/realm?x" → "users/{id}/role-mappings/realm".
func opPath(rel string) string {
	rel, _, _ = strings.Cut(rel, "?")
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	if len(parts) > 1 && (parts[0] == "users" || parts[0] == "roles") {
		parts[1] = "{" + strings.TrimSuffix(parts[0], "s") + "}"
		if parts[0] == "roles" {
			parts[1] = "{name}"
		}
	}
	return strings.Join(parts, "/")
}

// createUser POSTs users and returns the new user's id, the last segment of
// the Location header.
func (p *Provider) createUser(ctx context.Context, rep UserRepresentation) (string, error) {
	h, err := p.admin(ctx, call{method: http.MethodPost, json: rep}, "/users")
	if err != nil {
		return "", err
	}
	loc := h.Get("Location")
	id := path.Base(strings.TrimRight(loc, "/"))
	if loc == "" || id == "" || id == "." || id == "/" || id == "users" {
		return "", &callError{Op: "POST users", Status: http.StatusCreated, Err: fmt.Errorf("%w: no user id in Location %q", errGarbage, loc)}
	}
	if uid, err := url.PathUnescape(id); err == nil {
		id = uid
	}
	return id, nil
}

// deleteUserDetached deletes a half-created user even if ctx is already
// done (the client left): cleanup must not depend on the caller waiting.
func (p *Provider) deleteUserDetached(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		_, err = p.admin(ctx, call{method: http.MethodDelete}, "/users/"+url.PathEscape(id))
		if err == nil || statusIs(err, http.StatusNotFound) {
			return nil
		}
	}
	return err
}

func (p *Provider) getUser(ctx context.Context, id string) (UserRepresentation, error) {
	var rep UserRepresentation
	_, err := p.admin(ctx, call{method: http.MethodGet, out: &rep}, "/users/"+url.PathEscape(id))
	return rep, err
}

func (p *Provider) updateUser(ctx context.Context, id string, rep UserRepresentation) error {
	_, err := p.admin(ctx, call{method: http.MethodPut, json: rep}, "/users/"+url.PathEscape(id))
	return err
}

// taken reports whether a user other than self has the username or email
// (field "username" or "email"); Keycloak compares both case-insensitively.
func (p *Provider) taken(ctx context.Context, self, field, value string) (bool, error) {
	q := url.Values{field: {value}, "exact": {"true"}, "briefRepresentation": {"true"}, "max": {"5"}}
	var users []UserRepresentation
	if _, err := p.admin(ctx, call{method: http.MethodGet, out: &users, op: "GET users?" + field}, "/users?"+q.Encode()); err != nil {
		return false, err
	}
	for _, u := range users {
		got := u.Username
		if field == "email" {
			got = u.Email
		}
		if u.ID != self && strings.EqualFold(got, value) {
			return true, nil
		}
	}
	return false, nil
}

func (p *Provider) resetPassword(ctx context.Context, id, password string) error {
	cred := CredentialRepresentation{Type: "password", Value: password, Temporary: ptr(false)}
	_, err := p.admin(ctx, call{method: http.MethodPut, json: cred}, "/users/"+url.PathEscape(id)+"/reset-password")
	return err
}

// realmRole returns the realm role name with its id (GET roles/{name},
// which needs the view-realm role), cached.
func (p *Provider) realmRole(ctx context.Context, name string) (RoleRepresentation, error) {
	if r, ok := p.roles.get(name); ok {
		return r, nil
	}
	var r RoleRepresentation
	if _, err := p.admin(ctx, call{method: http.MethodGet, out: &r}, "/roles/"+url.PathEscape(name)); err != nil {
		if statusIs(err, http.StatusNotFound) {
			err = fmt.Errorf("%w (realm %q has no role %q: import assets/realm-jan.json or check %s)", err, p.cfg.Realm, name, EnvGuestRole)
		}
		return RoleRepresentation{}, err
	}
	if r.ID == "" || r.Name != name {
		return RoleRepresentation{}, &callError{Op: "GET roles/{name}", Status: http.StatusOK, Err: fmt.Errorf("%w: role without id", errGarbage)}
	}
	p.roles.put(r)
	return r, nil
}

func (p *Provider) userRealmRoles(ctx context.Context, id string) ([]RoleRepresentation, error) {
	var roles []RoleRepresentation
	_, err := p.admin(ctx, call{method: http.MethodGet, out: &roles}, "/users/"+url.PathEscape(id)+"/role-mappings/realm")
	return roles, err
}

func (p *Provider) addRealmRoles(ctx context.Context, id string, roles ...RoleRepresentation) error {
	_, err := p.admin(ctx, call{method: http.MethodPost, json: roles}, "/users/"+url.PathEscape(id)+"/role-mappings/realm")
	if statusIs(err, http.StatusNotFound) {
		// The user is gone, or a cached role was deleted and recreated
		// with a new id: forget the roles so the next call looks them up.
		for _, r := range roles {
			p.roles.drop(r.Name)
		}
	}
	return err
}

func (p *Provider) removeRealmRoles(ctx context.Context, id string, roles ...RoleRepresentation) error {
	_, err := p.admin(ctx, call{method: http.MethodDelete, json: roles}, "/users/"+url.PathEscape(id)+"/role-mappings/realm")
	return err
}

// logoutUser ends all of the user's sessions; their refresh tokens stop working.
func (p *Provider) logoutUser(ctx context.Context, id string) error {
	_, err := p.admin(ctx, call{method: http.MethodPost}, "/users/"+url.PathEscape(id)+"/logout")
	return err
}
