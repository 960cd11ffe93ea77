package main

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kong's declarative (DB-less) configuration, the subset the stand-in
// implements. parseKongConfig refuses any other key, entity or plugin by
// name: the gateway must not quietly differ from Kong on a file that Kong
// would honour.
type kongConfig struct {
	Services  []kongService  `yaml:"services"`
	Consumers []kongConsumer `yaml:"consumers"`
	Plugins   []kongPlugin   `yaml:"plugins"`
}

type kongService struct {
	Name           string      `yaml:"name"`
	URL            string      `yaml:"url"`
	ConnectTimeout int         `yaml:"connect_timeout"` // ms
	ReadTimeout    int         `yaml:"read_timeout"`    // ms
	WriteTimeout   int         `yaml:"write_timeout"`   // ms
	Retries        *int        `yaml:"retries"`
	Routes         []kongRoute `yaml:"routes"`

	target *url.URL
}

type kongRoute struct {
	Name         string   `yaml:"name"`
	Paths        []string `yaml:"paths"`
	Methods      []string `yaml:"methods"`
	Protocols    []string `yaml:"protocols"`
	StripPath    *bool    `yaml:"strip_path"` // Kong's default: true
	PreserveHost bool     `yaml:"preserve_host"`
}

type kongConsumer struct {
	ID                 string `yaml:"id"`
	Username           string `yaml:"username"`
	CustomID           string `yaml:"custom_id"`
	KeyauthCredentials []struct {
		ID  string `yaml:"id"`
		Key string `yaml:"key"`
	} `yaml:"keyauth_credentials"`
}

type kongPlugin struct {
	Name    string    `yaml:"name"`
	Enabled *bool     `yaml:"enabled"`
	Config  yaml.Node `yaml:"config"`
}

// Plugin configurations, with Kong's defaults filled in by parseKongConfig.
type keyAuthConfig struct {
	KeyNames        []string `yaml:"key_names"`
	HideCredentials bool     `yaml:"hide_credentials"`
	Anonymous       string   `yaml:"anonymous"`
	KeyInHeader     *bool    `yaml:"key_in_header"`
	KeyInQuery      *bool    `yaml:"key_in_query"`
	KeyInBody       bool     `yaml:"key_in_body"`
	RunOnPreflight  *bool    `yaml:"run_on_preflight"`
}

type corsConfig struct {
	Origins           []string `yaml:"origins"`
	Methods           []string `yaml:"methods"`
	Headers           []string `yaml:"headers"`
	ExposedHeaders    []string `yaml:"exposed_headers"`
	Credentials       bool     `yaml:"credentials"`
	MaxAge            *int     `yaml:"max_age"`
	PreflightContinue bool     `yaml:"preflight_continue"`
	PrivateNetwork    bool     `yaml:"private_network"`
}

type headerOps struct {
	Headers []string `yaml:"headers"`
}

type requestTransformerConfig struct {
	Remove  headerOps `yaml:"remove"`
	Rename  headerOps `yaml:"rename"`
	Replace headerOps `yaml:"replace"`
	Add     headerOps `yaml:"add"`
	Append  headerOps `yaml:"append"`
}

// allowedKeys are the keys the stand-in implements, per place in the file.
var allowedKeys = map[string][]string{
	"":                            {"_format_version", "_transform", "services", "consumers", "plugins"},
	"services":                    {"name", "url", "connect_timeout", "read_timeout", "write_timeout", "retries", "routes"},
	"routes":                      {"name", "paths", "methods", "protocols", "strip_path", "preserve_host"},
	"consumers":                   {"id", "username", "custom_id", "keyauth_credentials"},
	"keyauth_credentials":         {"id", "key"},
	"plugins":                     {"name", "enabled", "config"},
	"key-auth":                    {"key_names", "hide_credentials", "anonymous", "key_in_header", "key_in_query", "key_in_body", "run_on_preflight"},
	"cors":                        {"origins", "methods", "headers", "exposed_headers", "credentials", "max_age", "preflight_continue", "private_network"},
	"request-transformer":         {"remove", "rename", "replace", "add", "append"},
	"request-transformer.remove":  {"headers"},
	"request-transformer.rename":  {"headers"},
	"request-transformer.replace": {"headers"},
	"request-transformer.add":     {"headers"},
	"request-transformer.append":  {"headers"},
}

// kongPlugins are the plugins the stand-in implements.
var kongPlugins = []string{"key-auth", "cors", "request-transformer"}

// checkKeys refuses a mapping key outside allowedKeys[kind]; where is the
// place in the file, for the message.
func checkKeys(n *yaml.Node, kind, where string) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == 0 || n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s (line %d): want a mapping", cmp.Or(where, "top level"), n.Line)
	}
	allowed := allowedKeys[kind]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s (line %d): %q is not implemented by the stand-in (it implements %s)",
				cmp.Or(where, "top level"), n.Content[i].Line, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// checkList runs checkKeys over each item of the sequence under key.
func checkList(parent *yaml.Node, key, kind, where string, each func(item *yaml.Node, where string) error) error {
	list := child(parent, key)
	if list == nil || list.Tag == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s%s (line %d): want a list", where, key, list.Line)
	}
	for i, item := range list.Content {
		w := fmt.Sprintf("%s%s[%d]", where, key, i)
		if err := checkKeys(item, kind, w); err != nil {
			return err
		}
		if each != nil {
			if err := each(item, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// kongGateway is a parsed, checked configuration, ready to serve.
type kongGateway struct {
	routes    []boundRoute // in match order
	consumers []kongConsumer
	keyAuth   *keyAuthConfig
	cors      *corsConfig
	transform *requestTransformerConfig
	hash      string
}

type boundRoute struct {
	kongRoute
	service *kongService
	path    string // the prefix that matched, one entry per path
}

func parseKongConfig(data []byte) (*kongGateway, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("kong.yml: %w", err)
	}
	if err := checkKeys(&doc, "", ""); err != nil {
		return nil, fmt.Errorf("kong.yml: %w", err)
	}
	if v := child(&doc, "_format_version"); v == nil || (v.Value != "3.0" && v.Value != "2.1") {
		return nil, fmt.Errorf("kong.yml: _format_version must be \"3.0\"")
	}
	err := checkList(&doc, "services", "services", "", func(svc *yaml.Node, where string) error {
		return checkList(svc, "routes", "routes", where+".", nil)
	})
	if err == nil {
		err = checkList(&doc, "consumers", "consumers", "", func(c *yaml.Node, where string) error {
			return checkList(c, "keyauth_credentials", "keyauth_credentials", where+".", nil)
		})
	}
	if err == nil {
		err = checkList(&doc, "plugins", "plugins", "", func(p *yaml.Node, where string) error {
			name := child(p, "name")
			if name == nil {
				return fmt.Errorf("%s: plugin without a name", where)
			}
			if !slices.Contains(kongPlugins, name.Value) {
				return fmt.Errorf("%s (line %d): plugin %q is not implemented by the stand-in (it implements key-auth, cors, request-transformer)",
					where, name.Line, name.Value)
			}
			cfg := child(p, "config")
			if cfg == nil {
				return nil
			}
			if err := checkKeys(cfg, name.Value, where+".config"); err != nil {
				return err
			}
			if name.Value == "request-transformer" {
				for _, op := range []string{"remove", "rename", "replace", "add", "append"} {
					if n := child(cfg, op); n != nil {
						if err := checkKeys(n, "request-transformer."+op, where+".config."+op); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("kong.yml: %w", err)
	}

	var cfg kongConfig
	if err := doc.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("kong.yml: %w", quoteLines(err, data))
	}
	sum := sha1.Sum(data)
	g := &kongGateway{consumers: cfg.Consumers, hash: fmt.Sprintf("%x", sum[:16])}
	if err := checkKong39(&cfg); err != nil {
		return nil, fmt.Errorf("kong.yml: %w", err)
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("kong.yml: services[%d] (%s): url %q is not an http(s) URL", i, s.Name, s.URL)
		}
		s.target = u
		for j, r := range s.Routes {
			for _, p := range r.Protocols {
				if p != "http" && p != "https" {
					return nil, fmt.Errorf("kong.yml: services[%d].routes[%d]: protocol %q is not implemented by the stand-in", i, j, p)
				}
			}
			if len(r.Paths) == 0 {
				return nil, fmt.Errorf("kong.yml: services[%d].routes[%d]: the stand-in routes by paths only, and this route has none", i, j)
			}
			for _, p := range r.Paths {
				if !strings.HasPrefix(p, "/") {
					return nil, fmt.Errorf("kong.yml: services[%d].routes[%d]: path %q: regex paths (~) and paths not starting with / are not implemented by the stand-in", i, j, p)
				}
				g.routes = append(g.routes, boundRoute{kongRoute: r, service: s, path: p})
			}
		}
	}
	// Longest prefix first, as Kong's router prefers the more specific path.
	sort.SliceStable(g.routes, func(a, b int) bool { return len(g.routes[a].path) > len(g.routes[b].path) })

	for i, c := range cfg.Consumers {
		if c.Username == "" && c.CustomID == "" {
			return nil, fmt.Errorf("kong.yml: consumers[%d]: needs a username or custom_id", i)
		}
		if c.ID == "" && c.Username != "" {
			cfg.Consumers[i].ID = kongEntityID("consumers", c.Username)
		}
		for j, k := range c.KeyauthCredentials {
			if k.Key == "" {
				return nil, fmt.Errorf("kong.yml: consumers[%d].keyauth_credentials[%d]: no key", i, j)
			}
			if k.ID == "" {
				cfg.Consumers[i].KeyauthCredentials[j].ID = kongEntityID("keyauth_credentials", k.Key)
			}
		}
	}
	g.consumers = cfg.Consumers

	seen := map[string]bool{}
	for i, p := range cfg.Plugins {
		if p.Enabled != nil && !*p.Enabled {
			continue
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("kong.yml: plugins[%d]: %s is configured twice globally", i, p.Name)
		}
		seen[p.Name] = true
		switch p.Name {
		case "key-auth":
			c := &keyAuthConfig{}
			if err := p.Config.Decode(c); err != nil && p.Config.Kind != 0 {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (key-auth): %w", i, quoteLines(err, data))
			}
			if len(c.KeyNames) == 0 {
				c.KeyNames = []string{"apikey"}
			}
			if c.KeyInBody {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (key-auth): key_in_body is not implemented by the stand-in", i)
			}
			for _, k := range c.KeyNames {
				if !headerName.MatchString(k) {
					return nil, fmt.Errorf("kong.yml: plugins[%d] (key-auth): key_names: %q is not a header name (Kong 3.9 refuses it)", i, k)
				}
			}
			if c.Anonymous != "" && g.consumer(c.Anonymous) == nil {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (key-auth): anonymous consumer %q is not declared", i, c.Anonymous)
			}
			g.keyAuth = c
		case "cors":
			c := &corsConfig{}
			if err := p.Config.Decode(c); err != nil && p.Config.Kind != 0 {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (cors): %w", i, quoteLines(err, data))
			}
			for _, m := range c.Methods {
				if !slices.Contains(corsMethods, m) {
					return nil, fmt.Errorf("kong.yml: plugins[%d] (cors): methods: %q is not one of %s (Kong 3.9 refuses it)", i, m, strings.Join(corsMethods, ", "))
				}
			}
			for _, list := range [][]string{c.Headers, c.ExposedHeaders} {
				for _, h := range list {
					if !headerName.MatchString(h) {
						return nil, fmt.Errorf("kong.yml: plugins[%d] (cors): %q is not a header name", i, h)
					}
				}
			}
			if c.MaxAge != nil && *c.MaxAge < 0 {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (cors): max_age must not be negative", i)
			}
			for _, o := range c.Origins {
				if _, err := regexp.Compile(o); err != nil && o != "*" {
					return nil, fmt.Errorf("kong.yml: plugins[%d] (cors): origin %q is not a regex: %v", i, o, err)
				}
			}
			g.cors = c
		case "request-transformer":
			c := &requestTransformerConfig{}
			if err := p.Config.Decode(c); err != nil && p.Config.Kind != 0 {
				return nil, fmt.Errorf("kong.yml: plugins[%d] (request-transformer): %w", i, quoteLines(err, data))
			}
			for _, h := range c.Remove.Headers {
				if !headerName.MatchString(h) {
					return nil, fmt.Errorf("kong.yml: plugins[%d] (request-transformer): remove: %q is not a header name (Kong 3.9 refuses it)", i, h)
				}
			}
			for _, h := range c.Rename.Headers {
				if from, to, ok := strings.Cut(h, ":"); !ok || !headerName.MatchString(from) || !headerName.MatchString(to) {
					return nil, fmt.Errorf("kong.yml: plugins[%d] (request-transformer): rename: %q is not old:new header names", i, h)
				}
			}
			for _, list := range [][]string{c.Replace.Headers, c.Add.Headers, c.Append.Headers} {
				for _, h := range list {
					if k, _, ok := strings.Cut(h, ":"); !ok || !headerName.MatchString(k) {
						return nil, fmt.Errorf("kong.yml: plugins[%d] (request-transformer): %q is not name:value", i, h)
					}
					if strings.Contains(h, "$(") {
						return nil, fmt.Errorf("kong.yml: plugins[%d] (request-transformer): templates ($(…)) are not implemented by the stand-in", i)
					}
				}
			}
			g.transform = c
		}
	}
	return g, nil
}

// Kong 3.9's schema rules for what jan's kong.yml uses (kong/db/schema
// typedefs and the entity and plugin schemas): checked so that a file Kong
// would refuse is refused here too, not served.
var (
	// headerName is typedefs.header_name: an HTTP token.
	headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
	// entityName is typedefs.utf8_name: service and route names.
	entityName = regexp.MustCompile(`^[\p{L}\p{N}._~-]+$`)
	// routeMethod is an HTTP method as a route's methods need it.
	routeMethod = regexp.MustCompile(`^[A-Z]+$`)
	corsMethods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

// maxTimeout is Kong's timeout bound (typedefs.timeout: 1 to 2^31 - 2 ms).
const maxTimeout = 1<<31 - 2

// uniqueName checks an entity's optional name: characters Kong accepts,
// and not seen before among its kind.
func uniqueName(seen map[string]bool, where, kind, name string) error {
	if name == "" {
		return nil
	}
	if !entityName.MatchString(name) {
		return fmt.Errorf("%s: name %q has characters Kong 3.9 refuses", where, name)
	}
	if seen[name] {
		return fmt.Errorf("%s: %s name %q is used twice (Kong: UNIQUE violation)", where, kind, name)
	}
	seen[name] = true
	return nil
}

// checkKong39 checks the services, routes and consumers against Kong 3.9's
// schema: names, timeouts, retries, methods, and unique names.
func checkKong39(cfg *kongConfig) error {
	services, routes := map[string]bool{}, map[string]bool{}
	for i, s := range cfg.Services {
		where := fmt.Sprintf("services[%d]", i)
		if err := uniqueName(services, where, "service", s.Name); err != nil {
			return err
		}
		for name, v := range map[string]int{"connect_timeout": s.ConnectTimeout, "read_timeout": s.ReadTimeout, "write_timeout": s.WriteTimeout} {
			if v != 0 && (v < 1 || v > maxTimeout) {
				return fmt.Errorf("%s: %s %d is outside 1..%d (Kong 3.9 refuses it)", where, name, v, maxTimeout)
			}
		}
		if s.Retries != nil && (*s.Retries < 0 || *s.Retries > 32767) {
			return fmt.Errorf("%s: retries %d is outside 0..32767", where, *s.Retries)
		}
		for j, r := range s.Routes {
			where := fmt.Sprintf("%s.routes[%d]", where, j)
			if err := uniqueName(routes, where, "route", r.Name); err != nil {
				return err
			}
			for _, m := range r.Methods {
				if !routeMethod.MatchString(m) {
					return fmt.Errorf("%s: method %q must be upper case letters (Kong 3.9 refuses it)", where, m)
				}
			}
		}
	}
	usernames, customIDs := map[string]bool{}, map[string]bool{}
	for i, c := range cfg.Consumers {
		if c.Username != "" && usernames[c.Username] || c.CustomID != "" && customIDs[c.CustomID] {
			return fmt.Errorf("consumers[%d]: username or custom_id used twice (Kong: UNIQUE violation)", i)
		}
		usernames[c.Username], customIDs[c.CustomID] = true, true
	}
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// quoteLines adds to a YAML decoding error the lines it names, so the
// message shows the key whose value has the wrong type.
func quoteLines(err error, data []byte) error {
	lines := strings.Split(string(data), "\n")
	msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		if n < 1 || n > len(lines) {
			return m
		}
		return fmt.Sprintf("line %d (%s): ", n, strings.TrimSpace(lines[n-1]))
	})
	return errors.New(msg)
}

// consumer finds a consumer by id or username, as the anonymous option does.
func (g *kongGateway) consumer(ref string) *kongConsumer {
	for i := range g.consumers {
		if c := &g.consumers[i]; c.ID == ref || c.Username == ref {
			return c
		}
	}
	return nil
}

// kongEntityID is the id Kong gives a declarative entity that has none: a
// UUIDv5 of its endpoint key in a per-entity namespace derived from Kong's
// own (kong/db/schema/others/declarative_config.lua), so X-Consumer-ID is
// the value real Kong sends.
func kongEntityID(entity, key string) string {
	entities := uuidV5(uuidBytes("fd02801f-0957-4a15-a55a-c8d9606f30b5"), entity)
	return uuidV5(uuidBytes(entities), key)
}

func uuidV5(ns []byte, name string) string {
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte(name))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func uuidBytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		panic(err) // only well-formed UUIDs are passed
	}
	return b
}
