package keycloak

// Go mirrors of the Keycloak representations jan reads and writes: the Admin
// REST API bodies and the realm import file. Names and JSON fields follow
// Keycloak's classes in org.keycloak.representations.idm (RealmRepresentation,
// ClientRepresentation, ...) and org.keycloak.representations.userprofile.config
// (UPConfig); only the fields jan uses are declared. Keycloak's Boolean and
// Integer (nullable) fields are pointers here, so a body jan sends never sets
// a field it did not mean to.

// RealmRepresentation is a realm as Keycloak imports and exports it.
type RealmRepresentation struct {
	ID                     string                                     `json:"id,omitempty"`
	Realm                  string                                     `json:"realm"`
	DisplayName            string                                     `json:"displayName,omitempty"`
	Enabled                *bool                                      `json:"enabled,omitempty"`
	SSLRequired            string                                     `json:"sslRequired,omitempty"`
	RegistrationAllowed    *bool                                      `json:"registrationAllowed,omitempty"`
	LoginWithEmailAllowed  *bool                                      `json:"loginWithEmailAllowed,omitempty"`
	DuplicateEmailsAllowed *bool                                      `json:"duplicateEmailsAllowed,omitempty"`
	EditUsernameAllowed    *bool                                      `json:"editUsernameAllowed,omitempty"`
	VerifyEmail            *bool                                      `json:"verifyEmail,omitempty"`
	ResetPasswordAllowed   *bool                                      `json:"resetPasswordAllowed,omitempty"`
	RememberMe             *bool                                      `json:"rememberMe,omitempty"`
	BruteForceProtected    *bool                                      `json:"bruteForceProtected,omitempty"`
	PermanentLockout       *bool                                      `json:"permanentLockout,omitempty"`
	FailureFactor          *int                                       `json:"failureFactor,omitempty"`
	RevokeRefreshToken     *bool                                      `json:"revokeRefreshToken,omitempty"`
	RefreshTokenMaxReuse   *int                                       `json:"refreshTokenMaxReuse,omitempty"`
	AccessTokenLifespan    *int                                       `json:"accessTokenLifespan,omitempty"`
	SSOSessionIdleTimeout  *int                                       `json:"ssoSessionIdleTimeout,omitempty"`
	SSOSessionMaxLifespan  *int                                       `json:"ssoSessionMaxLifespan,omitempty"`
	PasswordPolicy         string                                     `json:"passwordPolicy,omitempty"`
	Roles                  *RolesRepresentation                       `json:"roles,omitempty"`
	DefaultRole            *RoleRepresentation                        `json:"defaultRole,omitempty"`
	Clients                []ClientRepresentation                     `json:"clients,omitempty"`
	Users                  []UserRepresentation                       `json:"users,omitempty"`
	RequiredActions        []RequiredActionProviderRepresentation     `json:"requiredActions,omitempty"`
	Components             map[string][]ComponentExportRepresentation `json:"components,omitempty"`
	Attributes             map[string]string                          `json:"attributes,omitempty"`
}

// RolesRepresentation holds a realm's roles: realm roles, and client roles by clientId.
type RolesRepresentation struct {
	Realm  []RoleRepresentation            `json:"realm,omitempty"`
	Client map[string][]RoleRepresentation `json:"client,omitempty"`
}

// RoleRepresentation is a realm or client role (Admin API: roles/{name},
// users/{id}/role-mappings/realm).
type RoleRepresentation struct {
	ID          string              `json:"id,omitempty"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Composite   bool                `json:"composite"`
	Composites  *RoleComposites     `json:"composites,omitempty"`
	ClientRole  *bool               `json:"clientRole,omitempty"`
	ContainerID string              `json:"containerId,omitempty"`
	Attributes  map[string][]string `json:"attributes,omitempty"`
}

// RoleComposites names the roles a composite role includes.
type RoleComposites struct {
	Realm  []string            `json:"realm,omitempty"`
	Client map[string][]string `json:"client,omitempty"`
}

// ClientRepresentation is an OIDC client.
type ClientRepresentation struct {
	ID                        string                         `json:"id,omitempty"`
	ClientID                  string                         `json:"clientId"`
	Name                      string                         `json:"name,omitempty"`
	Description               string                         `json:"description,omitempty"`
	Enabled                   *bool                          `json:"enabled,omitempty"`
	Protocol                  string                         `json:"protocol,omitempty"`
	ClientAuthenticatorType   string                         `json:"clientAuthenticatorType,omitempty"`
	Secret                    string                         `json:"secret,omitempty"`
	RedirectURIs              []string                       `json:"redirectUris,omitempty"`
	WebOrigins                []string                       `json:"webOrigins,omitempty"`
	BearerOnly                *bool                          `json:"bearerOnly,omitempty"`
	ConsentRequired           *bool                          `json:"consentRequired,omitempty"`
	StandardFlowEnabled       *bool                          `json:"standardFlowEnabled,omitempty"`
	ImplicitFlowEnabled       *bool                          `json:"implicitFlowEnabled,omitempty"`
	DirectAccessGrantsEnabled *bool                          `json:"directAccessGrantsEnabled,omitempty"`
	ServiceAccountsEnabled    *bool                          `json:"serviceAccountsEnabled,omitempty"`
	PublicClient              *bool                          `json:"publicClient,omitempty"`
	FrontchannelLogout        *bool                          `json:"frontchannelLogout,omitempty"`
	FullScopeAllowed          *bool                          `json:"fullScopeAllowed,omitempty"`
	Attributes                map[string]string              `json:"attributes,omitempty"`
	ProtocolMappers           []ProtocolMapperRepresentation `json:"protocolMappers,omitempty"`
	DefaultClientScopes       []string                       `json:"defaultClientScopes,omitempty"`
	OptionalClientScopes      []string                       `json:"optionalClientScopes,omitempty"`
}

// ProtocolMapperRepresentation is a token mapper; ProtocolMapper is its
// provider id, e.g. "oidc-audience-mapper".
type ProtocolMapperRepresentation struct {
	ID             string            `json:"id,omitempty"`
	Name           string            `json:"name"`
	Protocol       string            `json:"protocol"`
	ProtocolMapper string            `json:"protocolMapper"`
	Config         map[string]string `json:"config,omitempty"`
}

// UserRepresentation is a user (Admin API: users, users/{id}; realm import:
// users, including service-account users).
type UserRepresentation struct {
	ID                     string                     `json:"id,omitempty"`
	Username               string                     `json:"username,omitempty"`
	Enabled                *bool                      `json:"enabled,omitempty"`
	EmailVerified          *bool                      `json:"emailVerified,omitempty"`
	FirstName              string                     `json:"firstName,omitempty"`
	LastName               string                     `json:"lastName,omitempty"`
	Email                  string                     `json:"email,omitempty"`
	CreatedTimestamp       *int64                     `json:"createdTimestamp,omitempty"`
	Attributes             map[string][]string        `json:"attributes,omitempty"`
	Credentials            []CredentialRepresentation `json:"credentials,omitempty"`
	RequiredActions        []string                   `json:"requiredActions,omitempty"`
	RealmRoles             []string                   `json:"realmRoles,omitempty"`
	ClientRoles            map[string][]string        `json:"clientRoles,omitempty"`
	ServiceAccountClientID string                     `json:"serviceAccountClientId,omitempty"`
	Groups                 []string                   `json:"groups,omitempty"`
	NotBefore              *int                       `json:"notBefore,omitempty"`
}

// CredentialRepresentation is a credential; jan only sets passwords
// (users/{id}/reset-password).
type CredentialRepresentation struct {
	Type      string `json:"type"`
	Value     string `json:"value,omitempty"`
	Temporary *bool  `json:"temporary,omitempty"`
}

// ComponentExportRepresentation is a realm component, e.g. the user profile.
type ComponentExportRepresentation struct {
	ID            string                                     `json:"id,omitempty"`
	Name          string                                     `json:"name,omitempty"`
	ProviderID    string                                     `json:"providerId"`
	SubComponents map[string][]ComponentExportRepresentation `json:"subComponents,omitempty"`
	Config        map[string][]string                        `json:"config,omitempty"`
}

// RequiredActionProviderRepresentation configures a required action such as
// VERIFY_PROFILE.
type RequiredActionProviderRepresentation struct {
	Alias         string            `json:"alias"`
	Name          string            `json:"name,omitempty"`
	ProviderID    string            `json:"providerId"`
	Enabled       bool              `json:"enabled"`
	DefaultAction bool              `json:"defaultAction"`
	Priority      int               `json:"priority,omitempty"`
	Config        map[string]string `json:"config,omitempty"`
}

// UserProfileComponent is the realm component type whose
// "kc.user.profile.config" entry holds the UPConfig JSON (Keycloak 24+).
const (
	UserProfileComponent = "org.keycloak.userprofile.UserProfileProvider"
	UserProfileConfigKey = "kc.user.profile.config"
)

// UPConfig is Keycloak's declarative user profile (Keycloak 24+). Since 24,
// an attribute the profile does not declare is "unmanaged" and, unless
// UnmanagedAttributePolicy enables it, silently dropped when a user is
// created or updated through the Admin API; so jan's "guest" attribute must
// be declared here.
type UPConfig struct {
	Attributes               []UPAttribute `json:"attributes"`
	Groups                   []UPGroup     `json:"groups,omitempty"`
	UnmanagedAttributePolicy string        `json:"unmanagedAttributePolicy,omitempty"`
}

// UPAttribute declares one user profile attribute.
type UPAttribute struct {
	Name        string                    `json:"name"`
	DisplayName string                    `json:"displayName,omitempty"`
	Validations map[string]map[string]any `json:"validations,omitempty"`
	Annotations map[string]any            `json:"annotations,omitempty"`
	Required    *UPAttributeRequired      `json:"required,omitempty"`
	Permissions *UPAttributePermissions   `json:"permissions,omitempty"`
	Selector    *UPAttributeSelector      `json:"selector,omitempty"`
	Group       string                    `json:"group,omitempty"`
	Multivalued bool                      `json:"multivalued"`
}

// UPAttributeRequired says for whom an attribute is required.
type UPAttributeRequired struct {
	Roles  []string `json:"roles,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// UPAttributePermissions says who ("admin", "user") may view and edit an attribute.
type UPAttributePermissions struct {
	View []string `json:"view,omitempty"`
	Edit []string `json:"edit,omitempty"`
}

// UPAttributeSelector limits an attribute to some client scopes.
type UPAttributeSelector struct {
	Scopes []string `json:"scopes,omitempty"`
}

// UPGroup groups attributes in the account console.
type UPGroup struct {
	Name               string         `json:"name"`
	DisplayHeader      string         `json:"displayHeader,omitempty"`
	DisplayDescription string         `json:"displayDescription,omitempty"`
	Annotations        map[string]any `json:"annotations,omitempty"`
}

// tokenResponse is the token endpoint's answer (RFC 6749 §5.1, plus
// Keycloak's and RFC 8693's extra fields).
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	TokenType        string `json:"token_type"`
	IssuedTokenType  string `json:"issued_token_type,omitempty"`
	Scope            string `json:"scope,omitempty"`
}

// oauthError is the error body of the token and logout endpoints
// (RFC 6749 §5.2) and of some Admin API failures.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	// ErrorMessage is the Admin API's field, e.g. "User exists with same username".
	ErrorMessage string `json:"errorMessage"`
}
