package keycloaktest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/janhq/jan/assets"
	"github.com/janhq/jan/internal/auth/keycloak"
)

// Special statuses for Options.Fail and FailNext.
const (
	// Drop closes the connection without an answer, as a crashed or
	// unreachable Keycloak would.
	Drop = -1
	// Garbage answers 200 with a body that is not JSON, as a misrouted
	// proxy would.
	Garbage = -2
)

// Options configure a double. Zero values get defaults.
type Options struct {
	// RealmJSON is the realm file; default assets.RealmJSON. Placeholders
	// are rendered with BackendClientSecret for ${BACKEND_CLIENT_SECRET}.
	RealmJSON []byte
	// BackendClientSecret is the backend client's secret; default random.
	BackendClientSecret string
	// Key signs access tokens; default one RSA key shared by the doubles
	// of this process (generating one is slow under -race).
	Key *rsa.PrivateKey
	// BaseURL fixes the address in issuer and endpoint URLs, as Keycloak's
	// hostname setting does; default: from each request's Host.
	BaseURL string
	// Now is the clock for token times; default time.Now.
	Now func() time.Time
	// AccessTTL overrides the realm's accessTokenLifespan.
	AccessTTL time.Duration
	// PublicURL renders the realm's ${JAN_PUBLIC_URL} (the llm-api client's
	// redirect URI is its /auth/callback); default the realm's default.
	PublicURL string
	// StandardTokenExchangeOnly behaves like Keycloak 26 without the legacy
	// token-exchange feature: an exchange naming requested_subject is refused.
	StandardTokenExchangeOnly bool
	// Fail, if set, sees every request first (its body can be read again);
	// a non-zero status (or Drop, Garbage) is answered instead.
	Fail func(r *http.Request) int
}

// Match selects requests for FailNext. Empty fields match anything.
type Match struct {
	Method string
	// Path matches when the request path ends with it, e.g.
	// "/role-mappings/realm" or "/protocol/openid-connect/token".
	Path string
	// Grant matches the token endpoint's grant_type, e.g.
	// "urn:ietf:params:oauth:grant-type:token-exchange".
	Grant string
}

// Double is the Keycloak double's state and handler, without a listener.
// Its exported fields are read-only.
type Double struct {
	Realm               string
	BackendClientID     string
	BackendClientSecret string
	TargetClientID      string

	opts     Options
	now      func() time.Time
	key      *rsa.PrivateKey
	kid      string
	jwks     []byte
	hmacKey  []byte
	hmacKid  string
	realmID  string
	settings settings
	profile  profile
	handler  http.Handler

	mu          sync.Mutex
	roles       map[string]*role   // realm roles by name
	clients     map[string]*client // by clientId
	users       map[string]*user   // by id
	sessions    map[string]*session
	failNext    []failRule
	jwksFetches int
	tokenCalls  map[string]int
	codes       map[string]*authCode // authorization codes not yet used
	browserUser string               // the user signed in in "the browser" (SignInBrowser)
}

type settings struct {
	accessTTL, refreshTTL  time.Duration
	revokeRefreshToken     bool
	editUsernameAllowed    bool
	duplicateEmailsAllowed bool
	loginWithEmailAllowed  bool
	defaultRole            string
	minPassword, maxPass   int
	notUsername, notEmail  bool
}

// profile is the part of the declarative user profile the double enforces.
type profile struct {
	managed   map[string]keycloak.UPAttribute
	unmanaged string // "", "ENABLED", "ADMIN_EDIT", "ADMIN_VIEW"
}

type role struct {
	id, name, description string
	composites            []string
}

type client struct {
	id, clientID, secret string
	public, enabled      bool
	directAccess         bool
	standardFlow         bool     // the authorization code flow
	redirectURIs         []string // allowed redirect_uri values; a trailing * matches a prefix
	pkceMethod           string   // "S256": the client requires PKCE with S256
	serviceAccounts      bool
	mappers              []keycloak.ProtocolMapperRepresentation
	saUser               string // id of the service-account user
}

type user struct {
	id, username, email  string
	firstName, lastName  string
	emailVerified        bool
	enabled              bool
	created              int64
	attributes           map[string][]string
	passwordHash         string
	requiredActions      []string
	realmRoles           map[string]bool            // direct mappings
	clientRoles          map[string]map[string]bool // clientId → roles
	serviceAccountClient string
}

type session struct {
	id, userID, clientID string
	refreshJTI           string // the one refresh token that works now
}

type failRule struct {
	m      Match
	status int
}

// sharedKey is the default signing key: generated once per process.
var sharedKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// NewHandler builds a double from opts, for tests (see New) or to serve
// from a binary: http.ListenAndServe(addr, d.Handler()).
func NewHandler(opts Options) (*Double, error) {
	d := &Double{
		opts:       opts,
		now:        opts.Now,
		key:        opts.Key,
		roles:      map[string]*role{},
		clients:    map[string]*client{},
		users:      map[string]*user{},
		sessions:   map[string]*session{},
		tokenCalls: map[string]int{},
		codes:      map[string]*authCode{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.key == nil {
		k, err := sharedKey()
		if err != nil {
			return nil, fmt.Errorf("keycloaktest: signing key: %w", err)
		}
		d.key = k
	}
	secret := opts.BackendClientSecret
	if secret == "" {
		secret = randomString(24)
	}
	d.BackendClientSecret = secret
	d.hmacKey = []byte(randomString(48))
	d.hmacKid = randomUUID()

	raw := opts.RealmJSON
	if raw == nil {
		raw = assets.RealmJSON
	}
	rendered, err := keycloak.RenderRealm(raw, func(name string) (string, bool) {
		switch name {
		case "BACKEND_CLIENT_SECRET":
			return secret, true
		case "JAN_PUBLIC_URL":
			return opts.PublicURL, opts.PublicURL != ""
		}
		return "", false
	})
	if err != nil {
		return nil, err
	}
	rep, err := keycloak.ParseRealm(rendered)
	if err != nil {
		return nil, err
	}
	if err := d.load(rep); err != nil {
		return nil, err
	}
	if err := d.makeJWKS(); err != nil {
		return nil, err
	}
	d.handler = d.routes()
	return d, nil
}

// load sets the double up from the realm file, refusing what it cannot
// emulate faithfully (so a realm change jan depends on is noticed).
func (d *Double) load(rep *keycloak.RealmRepresentation) error {
	if rep.Realm == "" {
		return errors.New("keycloaktest: realm file has no realm name")
	}
	d.Realm = rep.Realm
	d.realmID = orDefault(rep.ID, randomUUID())
	d.BackendClientID = "backend"
	d.TargetClientID = "llm-api"

	s := settings{
		accessTTL:              secondsOr(rep.AccessTokenLifespan, 300),
		refreshTTL:             secondsOr(rep.SSOSessionIdleTimeout, 1800),
		revokeRefreshToken:     boolOr(rep.RevokeRefreshToken, false),
		editUsernameAllowed:    boolOr(rep.EditUsernameAllowed, false),
		duplicateEmailsAllowed: boolOr(rep.DuplicateEmailsAllowed, false),
		loginWithEmailAllowed:  boolOr(rep.LoginWithEmailAllowed, true),
		defaultRole:            "default-roles-" + rep.Realm,
	}
	if d.opts.AccessTTL > 0 {
		s.accessTTL = d.opts.AccessTTL
	}
	if rep.DefaultRole != nil && rep.DefaultRole.Name != "" {
		s.defaultRole = rep.DefaultRole.Name
	}
	if err := parsePasswordPolicy(rep.PasswordPolicy, &s); err != nil {
		return err
	}
	d.settings = s

	up, err := rep.UserProfile()
	if err != nil {
		return err
	}
	d.profile = profile{managed: map[string]keycloak.UPAttribute{}}
	if up == nil {
		// Keycloak's default profile: the four root attributes only.
		for _, n := range []string{"username", "email", "firstName", "lastName"} {
			d.profile.managed[n] = keycloak.UPAttribute{Name: n}
		}
	} else {
		for _, a := range up.Attributes {
			d.profile.managed[a.Name] = a
		}
		d.profile.unmanaged = up.UnmanagedAttributePolicy
	}

	if rep.Roles != nil {
		for _, r := range rep.Roles.Realm {
			ro := &role{id: orDefault(r.ID, randomUUID()), name: r.Name, description: r.Description}
			if r.Composites != nil {
				ro.composites = r.Composites.Realm
			}
			d.roles[r.Name] = ro
		}
	}
	if _, ok := d.roles[s.defaultRole]; !ok {
		d.roles[s.defaultRole] = &role{id: randomUUID(), name: s.defaultRole}
	}

	for _, c := range rep.Clients {
		cl := &client{
			id:              orDefault(c.ID, randomUUID()),
			clientID:        c.ClientID,
			secret:          c.Secret,
			public:          boolOr(c.PublicClient, false),
			enabled:         boolOr(c.Enabled, true),
			directAccess:    boolOr(c.DirectAccessGrantsEnabled, false),
			standardFlow:    boolOr(c.StandardFlowEnabled, true),
			redirectURIs:    c.RedirectURIs,
			pkceMethod:      c.Attributes["pkce.code.challenge.method"],
			serviceAccounts: boolOr(c.ServiceAccountsEnabled, false),
			mappers:         c.ProtocolMappers,
		}
		for _, m := range c.ProtocolMappers {
			switch m.ProtocolMapper {
			case "oidc-audience-mapper", "oidc-usermodel-attribute-mapper", "oidc-usermodel-property-mapper":
			default:
				return fmt.Errorf("keycloaktest: client %q: mapper %q (%s) is not emulated", c.ClientID, m.Name, m.ProtocolMapper)
			}
		}
		if cl.serviceAccounts {
			if cl.public {
				return fmt.Errorf("keycloaktest: client %q: a public client cannot have a service account", c.ClientID)
			}
			sa := d.newUser("service-account-" + strings.ToLower(c.ClientID))
			sa.serviceAccountClient = c.ClientID
			sa.enabled = true
			cl.saUser = sa.id
			d.users[sa.id] = sa
		}
		d.clients[c.ClientID] = cl
	}
	if cl, ok := d.clients[d.BackendClientID]; !ok || cl.public || !cl.serviceAccounts {
		return fmt.Errorf("keycloaktest: realm %q needs a confidential client %q with a service account", d.Realm, d.BackendClientID)
	}
	if _, ok := d.clients[d.TargetClientID]; !ok {
		return fmt.Errorf("keycloaktest: realm %q needs a client %q", d.Realm, d.TargetClientID)
	}

	// Service-account users' roles (realm import: users[].serviceAccountClientId).
	for _, u := range rep.Users {
		if u.ServiceAccountClientID == "" {
			return fmt.Errorf("keycloaktest: realm file user %q: only service-account users are emulated", u.Username)
		}
		cl, ok := d.clients[u.ServiceAccountClientID]
		if !ok || cl.saUser == "" {
			return fmt.Errorf("keycloaktest: service-account user %q names client %q, which has no service account", u.Username, u.ServiceAccountClientID)
		}
		sa := d.users[cl.saUser]
		for _, r := range u.RealmRoles {
			if _, ok := d.roles[r]; !ok {
				return fmt.Errorf("keycloaktest: service-account user %q: no realm role %q", u.Username, r)
			}
			sa.realmRoles[r] = true
		}
		for c, rs := range u.ClientRoles {
			for _, r := range rs {
				if sa.clientRoles[c] == nil {
					sa.clientRoles[c] = map[string]bool{}
				}
				sa.clientRoles[c][r] = true
			}
		}
	}
	return nil
}

func (d *Double) newUser(username string) *user {
	u := &user{
		id:          randomUUID(),
		username:    strings.ToLower(username),
		created:     d.now().UnixMilli(),
		attributes:  map[string][]string{},
		realmRoles:  map[string]bool{d.settings.defaultRole: true},
		clientRoles: map[string]map[string]bool{},
	}
	return u
}

var policyRE = regexp.MustCompile(`^([a-zA-Z]+)(?:\(([^)]*)\))?$`)

// parsePasswordPolicy reads the policies the double enforces: length,
// maxLength, notUsername, notEmail. Others are refused, so that a policy
// jan's upgrade would trip over is not silently ignored.
func parsePasswordPolicy(p string, s *settings) error {
	if strings.TrimSpace(p) == "" {
		return nil
	}
	for _, part := range strings.Split(p, " and ") {
		m := policyRE.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return fmt.Errorf("keycloaktest: password policy %q: cannot read %q", p, part)
		}
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "length":
			s.minPassword = n
		case "maxLength":
			s.maxPass = n
		case "notUsername":
			s.notUsername = true
		case "notEmail":
			s.notEmail = true
		default:
			return fmt.Errorf("keycloaktest: password policy %q is not emulated", m[1])
		}
	}
	return nil
}

func (d *Double) makeJWKS() error {
	sum, err := (&jose.JSONWebKey{Key: &d.key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	d.kid = base64.RawURLEncoding.EncodeToString(sum)
	// Keycloak also publishes an encryption key; go-oidc must skip it.
	d.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &d.key.PublicKey, KeyID: d.kid, Algorithm: string(jose.RS256), Use: "sig"},
		{Key: &d.key.PublicKey, KeyID: "enc-" + d.kid[:16], Algorithm: string(jose.RSA_OAEP), Use: "enc"},
	}})
	return err
}

// Handler serves the double.
func (d *Double) Handler() http.Handler { return d.handler }

// FailNext makes the next request that m matches get status instead (or
// Drop, Garbage). Rules are used once, in the order added.
func (d *Double) FailNext(m Match, status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failNext = append(d.failNext, failRule{m: m, status: status})
}

// JWKSFetches counts requests for the realm's JWKS.
func (d *Double) JWKSFetches() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.jwksFetches
}

// TokenCalls counts token endpoint requests with grant_type grant
// ("" counts all).
func (d *Double) TokenCalls(grant string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if grant == "" {
		n := 0
		for _, c := range d.tokenCalls {
			n += c
		}
		return n
	}
	return d.tokenCalls[grant]
}

// User is a snapshot of a Keycloak user as the double holds it.
type User struct {
	ID            string
	Username      string
	Email         string
	EmailVerified bool
	Enabled       bool
	Attributes    map[string][]string
	RealmRoles    []string // direct mappings, sorted (default-roles-<realm> included)
	HasPassword   bool
	Sessions      int
}

// IsGuest reports the guest attribute jan sets.
func (u User) IsGuest() bool {
	return len(u.Attributes["guest"]) > 0 && u.Attributes["guest"][0] == "true"
}

// HasRole reports a direct realm role mapping.
func (u User) HasRole(name string) bool { return slices.Contains(u.RealmRoles, name) }

// Users returns every user but service-account users, by username.
func (d *Double) Users() []User {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []User
	for _, u := range d.users {
		if u.serviceAccountClient == "" {
			out = append(out, d.snapshot(u))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// User returns the user with id, if it exists.
func (d *Double) User(id string) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok || u.serviceAccountClient != "" {
		return User{}, false
	}
	return d.snapshot(u), true
}

func (d *Double) snapshot(u *user) User {
	s := User{
		ID: u.id, Username: u.username, Email: u.email, EmailVerified: u.emailVerified,
		Enabled: u.enabled, Attributes: map[string][]string{}, HasPassword: u.passwordHash != "",
	}
	for k, v := range u.attributes {
		s.Attributes[k] = slices.Clone(v)
	}
	for r := range u.realmRoles {
		s.RealmRoles = append(s.RealmRoles, r)
	}
	sort.Strings(s.RealmRoles)
	for _, se := range d.sessions {
		if se.userID == u.id {
			s.Sessions++
		}
	}
	return s
}

// UserSpec describes a user to seed with CreateUser.
type UserSpec struct {
	Username, Email, Password string
	RealmRoles                []string
	Attributes                map[string][]string
}

// CreateUser adds an enabled user directly, as an administrator would, and
// returns its id.
func (d *Double) CreateUser(spec UserSpec) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.findUserLocked("username", spec.Username) != nil {
		return "", fmt.Errorf("keycloaktest: username %q exists", spec.Username)
	}
	u := d.newUser(spec.Username)
	u.enabled = true
	u.email = strings.ToLower(spec.Email)
	for k, v := range spec.Attributes {
		u.attributes[k] = slices.Clone(v)
	}
	for _, r := range spec.RealmRoles {
		if _, ok := d.roles[r]; !ok {
			return "", fmt.Errorf("keycloaktest: no realm role %q", r)
		}
		u.realmRoles[r] = true
	}
	if spec.Password != "" {
		u.passwordHash = hashPassword(u.id, spec.Password)
	}
	d.users[u.id] = u
	return u.id, nil
}

// SignToken signs claims with the realm's key (RS256, its kid), for tests
// that forge tokens differing from real ones only where they say.
func (d *Double) SignToken(claims map[string]any) (string, error) {
	return d.signRS256(claims)
}

// findUserLocked finds a non-service-account user by username or email,
// case-insensitively.
func (d *Double) findUserLocked(field, v string) *user {
	v = strings.ToLower(v)
	if v == "" {
		return nil
	}
	for _, u := range d.users {
		if field == "username" && u.username == v || field == "email" && u.email == v {
			return u
		}
	}
	return nil
}

// routes wires the endpoints behind the failure hooks.
func (d *Double) routes() http.Handler {
	mux := http.NewServeMux()
	oidc := "/realms/{realm}/protocol/openid-connect"
	mux.HandleFunc("GET /realms/{realm}/.well-known/openid-configuration", d.realm(d.discovery))
	mux.HandleFunc("GET "+oidc+"/certs", d.realm(d.certs))
	mux.HandleFunc("POST "+oidc+"/token", d.realm(d.token))
	mux.HandleFunc("POST "+oidc+"/logout", d.realm(d.logout))
	mux.HandleFunc("POST "+oidc+"/revoke", d.realm(d.revoke))
	mux.HandleFunc("GET "+oidc+"/auth", d.realm(d.authorize))
	mux.HandleFunc("POST "+oidc+"/auth", d.realm(d.authorize))
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "UP", "checks": []any{}})
	})

	admin := "/admin/realms/{realm}"
	mux.HandleFunc("GET "+admin+"/users", d.admin(needQuery, d.listUsers))
	mux.HandleFunc("POST "+admin+"/users", d.admin(needManage, d.createUser))
	mux.HandleFunc("GET "+admin+"/users/{id}", d.admin(needView, d.getUser))
	mux.HandleFunc("PUT "+admin+"/users/{id}", d.admin(needManage, d.updateUser))
	mux.HandleFunc("DELETE "+admin+"/users/{id}", d.admin(needManage, d.deleteUser))
	mux.HandleFunc("PUT "+admin+"/users/{id}/reset-password", d.admin(needManage, d.resetPassword))
	mux.HandleFunc("POST "+admin+"/users/{id}/logout", d.admin(needManage, d.logoutUser))
	mux.HandleFunc("GET "+admin+"/roles/{name}", d.admin(needViewRealm, d.getRole))
	mux.HandleFunc("GET "+admin+"/users/{id}/role-mappings/realm", d.admin(needView, d.getRoleMappings))
	mux.HandleFunc("POST "+admin+"/users/{id}/role-mappings/realm", d.admin(needManage, d.addRoleMappings))
	mux.HandleFunc("DELETE "+admin+"/users/{id}/role-mappings/realm", d.admin(needManage, d.deleteRoleMappings))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Unable to find matching target resource method"})
	})
	return d.hooks(mux)
}

// realm answers 404 for another realm, as Keycloak does.
func (d *Double) realm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("realm") != d.Realm {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
			return
		}
		h(w, r)
	}
}

// hooks buffers the body (so hooks and handlers can both read it), counts
// requests and applies injected failures.
func (d *Double) hooks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		reset := func() { r.Body = io.NopCloser(bytes.NewReader(body)) }
		reset()
		grant := ""
		if strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/token") {
			if f, err := parseForm(body); err == nil {
				grant = f.Get("grant_type")
			}
		}

		d.mu.Lock()
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/certs") {
			d.jwksFetches++
		}
		if grant != "" || strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/token") {
			d.tokenCalls[grant]++
		}
		status := 0
		for i, fr := range d.failNext {
			if fr.m.matches(r, grant) {
				status = fr.status
				d.failNext = slices.Delete(d.failNext, i, i+1)
				break
			}
		}
		d.mu.Unlock()

		if status == 0 && d.opts.Fail != nil {
			status = d.opts.Fail(r)
			reset()
		}
		switch {
		case status == 0:
			next.ServeHTTP(w, r)
		case status == Drop:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
			panic(http.ErrAbortHandler)
		case status == Garbage:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html><body>It works!</body></html>")
		default:
			code := "unknown_error"
			if status < 500 {
				code = "invalid_request"
			}
			writeJSON(w, status, map[string]string{"error": code, "error_description": "injected failure"})
		}
	})
}

func (m Match) matches(r *http.Request, grant string) bool {
	return (m.Method == "" || strings.EqualFold(m.Method, r.Method)) &&
		(m.Path == "" || strings.HasSuffix(r.URL.Path, m.Path)) &&
		(m.Grant == "" || m.Grant == grant)
}

// baseURL is the address Keycloak would put in issuer and endpoint URLs.
func (d *Double) baseURL(r *http.Request) string {
	if d.opts.BaseURL != "" {
		return strings.TrimRight(d.opts.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (d *Double) issuer(r *http.Request) string {
	return d.baseURL(r) + "/realms/" + d.Realm
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// oauthError writes RFC 6749's error body, as Keycloak's token endpoint does.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// randomUUID returns a version 4 UUID, the shape of Keycloak's ids.
func randomUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func hashPassword(userID, pw string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + pw))
	return hex.EncodeToString(sum[:])
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func secondsOr(p *int, def int) time.Duration {
	if p == nil || *p <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*p) * time.Second
}
