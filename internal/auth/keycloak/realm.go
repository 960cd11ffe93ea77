package keycloak

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// placeholderRE matches ${NAME} and ${NAME:default}, the placeholders
// Keycloak's --import-realm resolves from its environment.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}"\\]*))?\}`)

// RenderRealm resolves the ${NAME} and ${NAME:default} placeholders of a
// realm file (assets.RealmJSON) with lookup, e.g. os.LookupEnv. Keycloak's
// own --import-realm resolves the same syntax from its environment, so jan
// can either render the file (to import it through the Admin API, or to
// write it for a container without the secret in its environment) or mount
// it as is and pass the variables to Keycloak. Placeholders must sit inside
// JSON strings; values are escaped for that. A placeholder with neither a
// value nor a default is an error naming every such variable (never values).
func RenderRealm(tmpl []byte, lookup func(string) (string, bool)) ([]byte, error) {
	missing := map[string]bool{}
	out := placeholderRE.ReplaceAllFunc(tmpl, func(m []byte) []byte {
		sub := placeholderRE.FindSubmatch(m)
		name := string(sub[1])
		v, ok := lookup(name)
		if !ok || v == "" {
			if bytes.Contains(m, []byte(":")) {
				v, ok = string(sub[2]), true
			}
		}
		if !ok {
			missing[name] = true
			return m
		}
		q, _ := json.Marshal(v) // a JSON string literal: "..."
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("keycloak: realm file needs %s", strings.Join(names, ", "))
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("keycloak: realm file is not valid JSON after substitution")
	}
	return out, nil
}

// ParseRealm decodes a rendered realm file, refusing fields Keycloak's
// RealmRepresentation does not have (as far as jan mirrors it).
func ParseRealm(data []byte) (*RealmRepresentation, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r RealmRepresentation
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("keycloak: realm file: %w", err)
	}
	return &r, nil
}

// UserProfile returns the realm's declarative user profile (the
// UserProfileProvider component), or nil if the realm file has none and
// Keycloak's default applies.
func (r *RealmRepresentation) UserProfile() (*UPConfig, error) {
	for _, c := range r.Components[UserProfileComponent] {
		raw := c.Config[UserProfileConfigKey]
		if len(raw) == 0 {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(raw[0]))
		dec.DisallowUnknownFields()
		var up UPConfig
		if err := dec.Decode(&up); err != nil {
			return nil, fmt.Errorf("keycloak: realm %q: user profile: %w", r.Realm, err)
		}
		return &up, nil
	}
	return nil, nil
}

// Client returns the client with clientId id, or nil.
func (r *RealmRepresentation) Client(id string) *ClientRepresentation {
	for i := range r.Clients {
		if r.Clients[i].ClientID == id {
			return &r.Clients[i]
		}
	}
	return nil
}
