package keycloaktest

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// State is what a real Keycloak keeps in its database and the double keeps
// in memory: the realm's signing keys, its users (password hashes, role
// mappings, attributes) and the sessions behind refresh tokens. The realm's
// configuration (clients, roles, settings) is not in it: it comes from the
// realm file at every start, as Keycloak's --import-realm leaves an
// existing realm's data alone. Save it with Snapshot, load it with Restore:
// the Keycloak stand-in keeps it in keycloak-db, so identities outlive a
// restart (jan down, jan up) as they do with Keycloak.
type State struct {
	KeyPEM   string         `json:"key_pem"`
	HMACKey  string         `json:"hmac_key"`
	HMACKid  string         `json:"hmac_kid"`
	Users    []stateUser    `json:"users"`
	Sessions []stateSession `json:"sessions"`
}

type stateUser struct {
	ID              string              `json:"id"`
	Username        string              `json:"username"`
	Email           string              `json:"email,omitempty"`
	FirstName       string              `json:"first_name,omitempty"`
	LastName        string              `json:"last_name,omitempty"`
	EmailVerified   bool                `json:"email_verified"`
	Enabled         bool                `json:"enabled"`
	Created         int64               `json:"created"`
	Attributes      map[string][]string `json:"attributes,omitempty"`
	PasswordHash    string              `json:"password_hash,omitempty"`
	RequiredActions []string            `json:"required_actions,omitempty"`
	RealmRoles      []string            `json:"realm_roles,omitempty"`
	ClientRoles     map[string][]string `json:"client_roles,omitempty"`
}

type stateSession struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	ClientID   string `json:"client_id"`
	RefreshJTI string `json:"refresh_jti"`
}

// Snapshot is the double's State as JSON.
func (d *Double) Snapshot() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	der, err := x509.MarshalPKCS8PrivateKey(d.key)
	if err != nil {
		return nil, err
	}
	st := State{KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		HMACKey: string(d.hmacKey), HMACKid: d.hmacKid}
	for _, u := range d.users {
		if u.serviceAccountClient != "" {
			continue // made from the realm file at every start
		}
		su := stateUser{ID: u.id, Username: u.username, Email: u.email, FirstName: u.firstName, LastName: u.lastName,
			EmailVerified: u.emailVerified, Enabled: u.enabled, Created: u.created, Attributes: u.attributes,
			PasswordHash: u.passwordHash, RequiredActions: u.requiredActions, ClientRoles: map[string][]string{}}
		for r, on := range u.realmRoles {
			if on {
				su.RealmRoles = append(su.RealmRoles, r)
			}
		}
		slices.Sort(su.RealmRoles)
		for c, roles := range u.clientRoles {
			for r, on := range roles {
				if on {
					su.ClientRoles[c] = append(su.ClientRoles[c], r)
				}
			}
			slices.Sort(su.ClientRoles[c])
		}
		st.Users = append(st.Users, su)
	}
	slices.SortFunc(st.Users, func(a, b stateUser) int { return int(a.Created - b.Created) })
	for _, id := range slices.Sorted(maps.Keys(d.sessions)) {
		s := d.sessions[id]
		st.Sessions = append(st.Sessions, stateSession{ID: s.id, UserID: s.userID, ClientID: s.clientID, RefreshJTI: s.refreshJTI})
	}
	return json.Marshal(st)
}

// Restore loads a State a Snapshot made: the keys (tokens signed before
// still verify), the users and the sessions (refresh tokens issued before
// still refresh). Roles and clients the realm file no longer has are
// dropped from the users.
func (d *Double) Restore(b []byte) error {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("keycloaktest: state: %w", err)
	}
	block, _ := pem.Decode([]byte(st.KeyPEM))
	if block == nil {
		return errors.New("keycloaktest: state: no signing key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("keycloaktest: state: signing key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok || st.HMACKey == "" {
		return errors.New("keycloaktest: state: signing keys are not an RSA key and an HMAC key")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.key, d.hmacKey, d.hmacKid = key, []byte(st.HMACKey), st.HMACKid
	if err := d.makeJWKS(); err != nil {
		return err
	}
	for _, su := range st.Users {
		u := &user{id: su.ID, username: su.Username, email: su.Email, firstName: su.FirstName, lastName: su.LastName,
			emailVerified: su.EmailVerified, enabled: su.Enabled, created: su.Created, attributes: su.Attributes,
			passwordHash: su.PasswordHash, requiredActions: su.RequiredActions,
			realmRoles: map[string]bool{}, clientRoles: map[string]map[string]bool{}}
		if u.attributes == nil {
			u.attributes = map[string][]string{}
		}
		for _, r := range su.RealmRoles {
			if d.roles[r] != nil {
				u.realmRoles[r] = true
			}
		}
		for c, roles := range su.ClientRoles {
			if d.clients[c] == nil {
				continue
			}
			u.clientRoles[c] = map[string]bool{}
			for _, r := range roles {
				u.clientRoles[c][r] = true
			}
		}
		d.users[u.id] = u
	}
	for _, s := range st.Sessions {
		if d.users[s.UserID] != nil && d.clients[s.ClientID] != nil {
			d.sessions[s.ID] = &session{id: s.ID, userID: s.UserID, clientID: s.ClientID, refreshJTI: s.RefreshJTI}
		}
	}
	return nil
}
