package server

import (
	"net/http"
	"testing"
)

// Administrative routes need the admin role; JAN_ADMINS names who has it.
func TestAdminRoutes(t *testing.T) {
	e := newEnv(t, envOptions{}) // the harness makes "root" an admin
	user, admin := e.user("alice"), e.user("root")
	for _, tc := range []struct{ method, path string }{{"GET", "/v1/admin/users"}, {"POST", "/v1/admin/models/sync"}} {
		for _, who := range []struct {
			name, token string
			status      int
		}{{"guest", e.guest(), http.StatusForbidden}, {"user", user, http.StatusForbidden}, {"admin", admin, http.StatusOK}} {
			var body any
			if tc.method == "POST" {
				body = map[string]any{}
			}
			r := e.do(tc.method, tc.path, who.token, body, nil)
			if r.status != who.status {
				t.Errorf("%s %s as %s: %d %s", tc.method, tc.path, who.name, r.status, r.body)
			} else if r.status == http.StatusForbidden && r.errorCode(t) != "admin_required" {
				t.Errorf("code: %s", r.body)
			}
		}
	}
	var users struct {
		Data []adminUserJSON
	}
	e.do("GET", "/v1/admin/users?limit=100", admin, nil, nil).decode(t, &users)
	if len(users.Data) < 4 {
		t.Errorf("users = %+v", users.Data)
	}
	r := e.do("GET", "/auth/me", admin, nil, nil)
	if r.header.Get("X-Scopes") != "user admin" {
		t.Errorf("admin X-Scopes = %q", r.header.Get("X-Scopes"))
	}
}
