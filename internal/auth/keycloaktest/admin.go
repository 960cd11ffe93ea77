package keycloaktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/janhq/jan/internal/auth/keycloak"
)

// Admin permissions, as realm-management client roles grant them.
type need int

const (
	needQuery     need = iota // list users: query-users, view-users or manage-users
	needView                  // read a user: view-users or manage-users
	needManage                // change users: manage-users
	needViewRealm             // read realm roles: view-realm or manage-realm
)

func (n need) grantedBy(roles map[string]bool) bool {
	switch n {
	case needQuery:
		return roles["query-users"] || roles["view-users"] || roles["manage-users"] || roles["realm-admin"]
	case needView:
		return roles["view-users"] || roles["manage-users"] || roles["realm-admin"]
	case needManage:
		return roles["manage-users"] || roles["realm-admin"]
	case needViewRealm:
		return roles["view-realm"] || roles["manage-realm"] || roles["realm-admin"]
	}
	return false
}

// admin wraps an Admin API handler: the realm must exist and the bearer
// must be an access token of a service account (or user) whose
// realm-management roles allow the call. The handler runs with d.mu held.
func (d *Double) admin(n need, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return d.realm(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		c, err := d.parseAccess(r, raw)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
			return
		}
		caller, ok := d.users[c.Subject]
		if !ok || !caller.enabled {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
			return
		}
		if !n.grantedBy(caller.clientRoles["realm-management"]) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "HTTP 403 Forbidden"})
			return
		}
		h(w, r)
	})
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"errorMessage": msg})
}

func notFound(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": msg})
}

// userIn is a UserRepresentation as the Admin API reads it: absent fields
// (nil) leave the user unchanged on update.
type userIn struct {
	Username      *string                             `json:"username"`
	Email         *string                             `json:"email"`
	FirstName     *string                             `json:"firstName"`
	LastName      *string                             `json:"lastName"`
	Enabled       *bool                               `json:"enabled"`
	EmailVerified *bool                               `json:"emailVerified"`
	Attributes    map[string][]string                 `json:"attributes"`
	Credentials   []keycloak.CredentialRepresentation `json:"credentials"`
	RequiredActs  []string                            `json:"requiredActions"`
}

func (d *Double) userRep(u *user, brief bool) keycloak.UserRepresentation {
	created := u.created
	rep := keycloak.UserRepresentation{
		ID: u.id, Username: u.username, Email: u.email, FirstName: u.firstName, LastName: u.lastName,
		Enabled: &u.enabled, EmailVerified: &u.emailVerified, CreatedTimestamp: &created,
		RequiredActions: slices.Clone(u.requiredActions), NotBefore: new(int),
	}
	if rep.RequiredActions == nil {
		rep.RequiredActions = []string{}
	}
	if !brief && len(u.attributes) > 0 {
		rep.Attributes = map[string][]string{}
		for k, v := range u.attributes {
			rep.Attributes[k] = slices.Clone(v)
		}
	}
	return rep
}

func (d *Double) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	exact := q.Get("exact") == "true"
	brief := q.Get("briefRepresentation") == "true"
	match := func(have, want string) bool {
		want = strings.ToLower(want)
		if exact {
			return have == want
		}
		return strings.Contains(have, want)
	}
	var out []keycloak.UserRepresentation
	for _, u := range d.users {
		if u.serviceAccountClient != "" {
			continue
		}
		if v := q.Get("username"); v != "" && !match(u.username, v) {
			continue
		}
		if v := q.Get("email"); v != "" && !match(u.email, v) {
			continue
		}
		if v := strings.ToLower(q.Get("search")); v != "" && !strings.Contains(u.username, v) && !strings.Contains(u.email, v) &&
			!strings.Contains(strings.ToLower(u.firstName+" "+u.lastName), v) {
			continue
		}
		out = append(out, d.userRep(u, brief))
	}
	slices.SortFunc(out, func(a, b keycloak.UserRepresentation) int { return strings.Compare(a.Username, b.Username) })
	first, _ := strconv.Atoi(q.Get("first"))
	max, err := strconv.Atoi(q.Get("max"))
	if err != nil || max <= 0 {
		max = 100
	}
	if first > len(out) {
		first = len(out)
	}
	out = out[first:min(len(out), first+max)]
	if out == nil {
		out = []keycloak.UserRepresentation{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Double) createUser(w http.ResponseWriter, r *http.Request) {
	var in userIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adminError(w, http.StatusBadRequest, "unrecognized field or malformed JSON")
		return
	}
	if in.Username == nil || *in.Username == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"field": "username", "errorMessage": "error-user-attribute-required", "params": []string{"username"}})
		return
	}
	u := d.newUser(*in.Username)
	if status, body := d.applyUser(u, in, true); status != 0 {
		writeJSON(w, status, body)
		return
	}
	for _, c := range in.Credentials {
		if c.Type != "password" {
			continue
		}
		if msg, desc := d.checkPassword(u, c.Value); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg, "error_description": desc})
			return
		}
		u.passwordHash = hashPassword(u.id, c.Value)
		if c.Temporary != nil && *c.Temporary {
			u.requiredActions = append(u.requiredActions, "UPDATE_PASSWORD")
		}
	}
	d.users[u.id] = u
	w.Header().Set("Location", d.baseURL(r)+"/admin/realms/"+d.Realm+"/users/"+u.id)
	w.WriteHeader(http.StatusCreated)
}

// applyUser validates in against the realm's rules and copies it into u
// (create: a new user; update: fields in that are nil stay as they are).
// It returns a non-zero status and body to answer on failure.
func (d *Double) applyUser(u *user, in userIn, create bool) (int, any) {
	username, email := u.username, u.email
	if in.Username != nil && *in.Username != "" {
		username = strings.ToLower(*in.Username)
	}
	if in.Email != nil {
		email = strings.ToLower(*in.Email)
	}
	if username != u.username && !create && !d.settings.editUsernameAllowed {
		return http.StatusBadRequest, map[string]any{"field": "username", "errorMessage": "error-user-attribute-read-only", "params": []string{"username"}}
	}
	if n := utf8.RuneCountInString(username); n < 3 || n > 255 {
		return http.StatusBadRequest, map[string]any{"field": "username", "errorMessage": "error-invalid-length", "params": []any{"username", 3, 255}}
	}
	if email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " \t")) {
		return http.StatusBadRequest, map[string]any{"field": "email", "errorMessage": "error-invalid-email", "params": []string{"email", email}}
	}
	if other := d.findUserLocked("username", username); other != nil && other.id != u.id {
		return http.StatusConflict, map[string]string{"errorMessage": "User exists with same username"}
	}
	if email != "" && !d.settings.duplicateEmailsAllowed {
		if other := d.findUserLocked("email", email); other != nil && other.id != u.id {
			return http.StatusConflict, map[string]string{"errorMessage": "User exists with same email"}
		}
	}
	var attrs map[string][]string
	if in.Attributes != nil {
		attrs = map[string][]string{}
		for k, v := range in.Attributes {
			switch k {
			case "username", "email", "firstName", "lastName":
				continue // root attributes come from the fields
			}
			a, managed := d.profile.managed[k]
			if !managed {
				// Keycloak 24+: unmanaged attributes are dropped unless the
				// profile's unmanagedAttributePolicy lets admins edit them.
				if d.profile.unmanaged == "ENABLED" || d.profile.unmanaged == "ADMIN_EDIT" {
					attrs[k] = slices.Clone(v)
				}
				continue
			}
			if !a.Multivalued && len(v) > 1 {
				return http.StatusBadRequest, map[string]any{"field": k, "errorMessage": "error-invalid-multivalued-size", "params": []string{k}}
			}
			if opts, ok := a.Validations["options"]["options"].([]any); ok {
				for _, val := range v {
					if !slices.ContainsFunc(opts, func(o any) bool { return o == val }) {
						return http.StatusBadRequest, map[string]any{"field": k, "errorMessage": "error-invalid-value", "params": []string{k}}
					}
				}
			}
			attrs[k] = slices.Clone(v)
		}
	}

	u.username, u.email = username, email
	if in.FirstName != nil {
		u.firstName = *in.FirstName
	}
	if in.LastName != nil {
		u.lastName = *in.LastName
	}
	if in.Enabled != nil {
		u.enabled = *in.Enabled
	}
	if in.EmailVerified != nil {
		u.emailVerified = *in.EmailVerified
	}
	if in.RequiredActs != nil {
		u.requiredActions = slices.Clone(in.RequiredActs)
	}
	if attrs != nil {
		u.attributes = attrs
	}
	return 0, nil
}

// checkPassword applies the realm's password policy, answering as Keycloak's
// policy providers do.
func (d *Double) checkPassword(u *user, pw string) (string, string) {
	s := d.settings
	switch {
	case pw == "":
		return "invalidPasswordMinLengthMessage", "Invalid password: minimum length " + strconv.Itoa(max(s.minPassword, 1)) + "."
	case s.minPassword > 0 && utf8.RuneCountInString(pw) < s.minPassword:
		return "invalidPasswordMinLengthMessage", fmt.Sprintf("Invalid password: minimum length %d.", s.minPassword)
	case s.maxPass > 0 && utf8.RuneCountInString(pw) > s.maxPass:
		return "invalidPasswordMaxLengthMessage", fmt.Sprintf("Invalid password: maximum length %d.", s.maxPass)
	case s.notUsername && strings.EqualFold(pw, u.username):
		return "invalidPasswordNotUsernameMessage", "Invalid password: must not be equal to the username."
	case s.notEmail && u.email != "" && strings.EqualFold(pw, u.email):
		return "invalidPasswordNotEmailMessage", "Invalid password: must not be equal to the email."
	}
	return "", ""
}

// target returns the user named by the {id} path segment, or answers 404.
func (d *Double) target(w http.ResponseWriter, r *http.Request) *user {
	u, ok := d.users[r.PathValue("id")]
	if !ok {
		notFound(w, "User not found")
		return nil
	}
	return u
}

func (d *Double) getUser(w http.ResponseWriter, r *http.Request) {
	if u := d.target(w, r); u != nil {
		writeJSON(w, http.StatusOK, d.userRep(u, false))
	}
}

func (d *Double) updateUser(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	var in userIn
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adminError(w, http.StatusBadRequest, "unrecognized field or malformed JSON")
		return
	}
	// Validate on a copy: a refused update changes nothing.
	cp := *u
	if status, body := d.applyUser(&cp, in, false); status != 0 {
		writeJSON(w, status, body)
		return
	}
	*u = cp
	w.WriteHeader(http.StatusNoContent)
}

func (d *Double) deleteUser(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	if u.serviceAccountClient != "" {
		adminError(w, http.StatusBadRequest, "Cannot delete a service account user")
		return
	}
	delete(d.users, u.id)
	d.dropSessions(u.id)
	w.WriteHeader(http.StatusNoContent)
}

func (d *Double) dropSessions(userID string) {
	for id, s := range d.sessions {
		if s.userID == userID {
			delete(d.sessions, id)
		}
	}
}

func (d *Double) resetPassword(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	var c keycloak.CredentialRepresentation
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		adminError(w, http.StatusBadRequest, "unrecognized field or malformed JSON")
		return
	}
	if c.Type != "" && c.Type != "password" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Unsupported credential type"})
		return
	}
	if msg, desc := d.checkPassword(u, c.Value); msg != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg, "error_description": desc})
		return
	}
	u.passwordHash = hashPassword(u.id, c.Value)
	u.requiredActions = slices.DeleteFunc(u.requiredActions, func(a string) bool { return a == "UPDATE_PASSWORD" })
	if c.Temporary == nil || *c.Temporary { // Keycloak's default is temporary
		u.requiredActions = append(u.requiredActions, "UPDATE_PASSWORD")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Double) logoutUser(w http.ResponseWriter, r *http.Request) {
	if u := d.target(w, r); u != nil {
		d.dropSessions(u.id)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (d *Double) roleRep(ro *role) keycloak.RoleRepresentation {
	f := false
	return keycloak.RoleRepresentation{
		ID: ro.id, Name: ro.name, Description: ro.description, Composite: len(ro.composites) > 0,
		ClientRole: &f, ContainerID: d.realmID, Attributes: map[string][]string{},
	}
}

func (d *Double) getRole(w http.ResponseWriter, r *http.Request) {
	ro, ok := d.roles[r.PathValue("name")]
	if !ok {
		notFound(w, "Could not find role")
		return
	}
	writeJSON(w, http.StatusOK, d.roleRep(ro))
}

func (d *Double) getRoleMappings(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	out := []keycloak.RoleRepresentation{}
	for name := range u.realmRoles {
		if ro, ok := d.roles[name]; ok {
			out = append(out, d.roleRep(ro))
		}
	}
	slices.SortFunc(out, func(a, b keycloak.RoleRepresentation) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

// mappedRoles reads a role-mappings body: Keycloak looks each role up by
// name and requires its id to match.
func (d *Double) mappedRoles(w http.ResponseWriter, r *http.Request) ([]*role, bool) {
	var in []keycloak.RoleRepresentation
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		adminError(w, http.StatusBadRequest, "unrecognized field or malformed JSON")
		return nil, false
	}
	var out []*role
	for _, rr := range in {
		ro, ok := d.roles[rr.Name]
		if !ok || ro.id != rr.ID {
			notFound(w, "Role not found")
			return nil, false
		}
		out = append(out, ro)
	}
	return out, true
}

func (d *Double) addRoleMappings(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	roles, ok := d.mappedRoles(w, r)
	if !ok {
		return
	}
	for _, ro := range roles {
		u.realmRoles[ro.name] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Double) deleteRoleMappings(w http.ResponseWriter, r *http.Request) {
	u := d.target(w, r)
	if u == nil {
		return
	}
	roles, ok := d.mappedRoles(w, r)
	if !ok {
		return
	}
	for _, ro := range roles {
		delete(u.realmRoles, ro.name)
	}
	w.WriteHeader(http.StatusNoContent)
}
