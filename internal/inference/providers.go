package inference

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Capabilities a model can have.
const (
	CapChat        = "chat"
	CapCompletions = "completions"
	CapEmbeddings  = "embeddings"
	CapVision      = "vision"    // takes images (catalog: supports_images)
	CapReasoning   = "reasoning" // thinks before answering (catalog: supports_reasoning)
)

// KindOpenAI is the only provider kind: an OpenAI-compatible HTTP API.
const KindOpenAI = "openai"

var (
	knownCapabilities   = []string{CapChat, CapCompletions, CapEmbeddings, CapVision, CapReasoning}
	defaultCapabilities = []string{CapChat, CapCompletions}
)

// DefaultProvidersYAML is the providers.yaml jan writes for a new install:
// no providers, with comments that show the format.
//
//go:embed providers.yaml
var DefaultProvidersYAML string

// ModelSpec is one model a provider serves.
type ModelSpec struct {
	ID           string   // public id clients send as "model"
	ServedName   string   // the name the provider knows it by; defaults to ID
	DisplayName  string   // optional
	Capabilities []string // subset of chat, completions, embeddings, vision, reasoning; defaults to [chat, completions]
	Family       string   // optional, e.g. "qwen2.5"; the catalog guesses it from the id otherwise
	// ContextLength is the model's context window in tokens: from
	// providers.yaml, or what the engine reports (vLLM's max_model_len);
	// 0 when unknown.
	ContextLength int
}

// Provider is an OpenAI-compatible endpoint and the models jan serves from it.
type Provider struct {
	Name     string
	Kind     string            // "openai" (only kind for now)
	BaseURL  string            // as configured; see URL
	Headers  map[string]string // sent on every upstream request (e.g. Authorization)
	Models   []ModelSpec
	Detected bool   // found by auto-detection rather than configured
	Vendor   string // optional: who makes the engine or API ("ollama", "vllm", "openai"); see VendorName
}

// VendorName is the provider's vendor: as configured, else guessed from
// the engine jan detected or the API's host, else "openai-compatible".
func (p *Provider) VendorName() string {
	if p.Vendor != "" {
		return p.Vendor
	}
	if p.Detected {
		return p.Name
	}
	u, err := url.Parse(p.BaseURL)
	if err != nil {
		return "openai-compatible"
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, v := range []struct{ vendor, host, port string }{
		{"openai", "api.openai.com", ""}, {"anthropic", "api.anthropic.com", ""}, {"groq", "api.groq.com", ""},
		{"openrouter", "openrouter.ai", ""}, {"mistral", "api.mistral.ai", ""}, {"together", "api.together.xyz", ""},
		{"google", "generativelanguage.googleapis.com", ""},
		{"ollama", "", "11434"}, {"lmstudio", "", "1234"}, {"jan", "", "1337"},
	} {
		if (v.host != "" && host == v.host) || (v.port != "" && port == v.port) {
			return v.vendor
		}
	}
	if strings.Contains(strings.ToLower(p.Name), "vllm") || strings.Contains(host, "vllm") {
		return "vllm"
	}
	return "openai-compatible"
}

// PublicBaseURL is BaseURL without what may be secret in it (user
// information, query): safe to show to any signed-in user.
func (p *Provider) PublicBaseURL() string {
	u, err := url.Parse(p.BaseURL)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// Config is a parsed providers.yaml.
type Config struct {
	Providers       []Provider
	DefaultProvider string
}

// URL is the full URL of an API path ("/chat/completions", "/models") on
// the provider. BaseURL may be given with or without its API version:
// "http://localhost:8000" gets "/v1" appended, while a base whose path
// already has a version segment ("…/v1", "…/v1beta/openai", "…/api/paas/v4")
// is used as is.
func (p *Provider) URL(path string) string {
	base := strings.TrimRight(p.BaseURL, "/")
	if !hasVersionSegment(base) {
		base += "/v1"
	}
	return base + "/" + strings.TrimLeft(path, "/")
}

var versionSegment = regexp.MustCompile(`^v[0-9]+[a-z0-9]*$`)

func hasVersionSegment(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return strings.HasSuffix(base, "/v1")
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if versionSegment.MatchString(seg) {
			return true
		}
	}
	return false
}

// path is the URL path of an API path on p, for messages.
func (p *Provider) path(apiPath string) string {
	if u, err := url.Parse(p.URL(apiPath)); err == nil {
		return u.Path
	}
	return apiPath
}

// host is the provider's host:port, safe to show users (no credentials,
// path or query).
func (p *Provider) host() string {
	if u, err := url.Parse(p.BaseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "its base_url"
}

// LoadProviders reads and parses a providers.yaml, expanding variables with
// getenv (nil: the process environment). Errors name path.
func LoadProviders(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	return ParseProviders(path, data, getenv)
}

// ParseProviders parses and validates a providers.yaml. String values may
// use ${VAR}, ${VAR:-default} (default when VAR is unset or empty) and
// ${VAR:?message} (error when unset or empty); $$ is a literal $. Variables
// are expanded after YAML parsing, so values need no quoting for YAML's
// sake. Errors name filename and the field, e.g.
//
//	providers.yaml: providers[1].base_url: required
//	providers.yaml: line 4: mapping values are not allowed in this context
//
// Every validation error is reported, joined with newlines.
func ParseProviders(filename string, data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", filename, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	p := &configParser{file: filename, getenv: getenv}
	cfg := p.parse(&root)
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// configParser walks the YAML tree by hand rather than decoding into
// structs, so that every error can name the exact field path
// (providers[1].models[0].id) and unknown keys are caught at every level.
type configParser struct {
	file   string
	getenv func(string) string
	errs   []error
}

const maxReportedErrors = 20

func (p *configParser) fail(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.file, path, fmt.Sprintf(format, args...)))
}

func (p *configParser) err() error {
	if len(p.errs) > maxReportedErrors {
		more := len(p.errs) - maxReportedErrors
		p.errs = append(p.errs[:maxReportedErrors], fmt.Errorf("%s: and %d more errors", p.file, more))
	}
	return errors.Join(p.errs...)
}

func (p *configParser) parse(root *yaml.Node) *Config {
	cfg := &Config{Providers: []Provider{}}
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return cfg
		}
		doc = doc.Content[0]
	}
	if doc.Kind == 0 || isNull(doc) { // empty file
		return cfg
	}
	fields, ok := p.mapping("top level", doc, "providers", "routing")
	if !ok {
		return cfg
	}
	if n := fields["providers"]; n != nil && !isNull(n) {
		if n.Kind != yaml.SequenceNode {
			p.fail("providers", "must be a list (line %d)", n.Line)
		} else {
			for i, pn := range n.Content {
				if prov, ok := p.provider(fmt.Sprintf("providers[%d]", i), pn); ok {
					cfg.Providers = append(cfg.Providers, prov)
				}
			}
		}
	}
	if n := fields["routing"]; n != nil && !isNull(n) {
		if rf, ok := p.mapping("routing", n, "default_provider"); ok {
			cfg.DefaultProvider = p.str("routing.default_provider", rf["default_provider"])
		}
	}
	p.validate(cfg)
	return cfg
}

func (p *configParser) provider(path string, n *yaml.Node) (Provider, bool) {
	f, ok := p.mapping(path, n, "name", "kind", "vendor", "base_url", "headers", "models")
	if !ok {
		return Provider{}, false
	}
	prov := Provider{
		Name:    p.str(path+".name", f["name"]),
		Kind:    p.str(path+".kind", f["kind"]),
		Vendor:  p.str(path+".vendor", f["vendor"]),
		BaseURL: p.str(path+".base_url", f["base_url"]),
	}
	if hn := f["headers"]; hn != nil && !isNull(hn) {
		if hn.Kind != yaml.MappingNode {
			p.fail(path+".headers", "must be a mapping of header names to values (line %d)", hn.Line)
		} else {
			prov.Headers = make(map[string]string, len(hn.Content)/2)
			for i := 0; i+1 < len(hn.Content); i += 2 {
				name := hn.Content[i].Value
				hpath := path + ".headers." + name
				if _, dup := prov.Headers[name]; dup {
					p.fail(hpath, "listed twice (line %d)", hn.Content[i].Line)
				}
				prov.Headers[name] = p.str(hpath, hn.Content[i+1])
			}
		}
	}
	if mn := f["models"]; mn != nil && !isNull(mn) {
		if mn.Kind != yaml.SequenceNode {
			p.fail(path+".models", "must be a list (line %d)", mn.Line)
		} else {
			for i, m := range mn.Content {
				if spec, ok := p.model(fmt.Sprintf("%s.models[%d]", path, i), m); ok {
					prov.Models = append(prov.Models, spec)
				}
			}
		}
	}
	return prov, true
}

func (p *configParser) model(path string, n *yaml.Node) (ModelSpec, bool) {
	f, ok := p.mapping(path, n, "id", "served_name", "display_name", "capabilities", "family", "context_length")
	if !ok {
		return ModelSpec{}, false
	}
	m := ModelSpec{
		ID:          p.str(path+".id", f["id"]),
		ServedName:  p.str(path+".served_name", f["served_name"]),
		DisplayName: p.str(path+".display_name", f["display_name"]),
		Family:      p.str(path+".family", f["family"]),
	}
	if cl := f["context_length"]; cl != nil && !isNull(cl) {
		n, err := strconv.Atoi(p.str(path+".context_length", cl))
		if err != nil || n < 1 {
			p.fail(path+".context_length", "must be a positive number of tokens (line %d)", cl.Line)
		}
		m.ContextLength = n
	}
	if cn := f["capabilities"]; cn != nil && !isNull(cn) {
		if cn.Kind != yaml.SequenceNode {
			p.fail(path+".capabilities", "must be a list such as [chat, completions] (line %d)", cn.Line)
		} else {
			m.Capabilities = []string{}
			for i, c := range cn.Content {
				if c := p.str(fmt.Sprintf("%s.capabilities[%d]", path, i), c); !slices.Contains(m.Capabilities, c) {
					m.Capabilities = append(m.Capabilities, c)
				}
			}
		}
	}
	return m, true
}

// validate checks the semantic rules and fills defaults.
func (p *configParser) validate(cfg *Config) {
	seen := map[string]int{}
	for i := range cfg.Providers {
		prov := &cfg.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		switch {
		case prov.Name == "":
			p.fail(path+".name", "required")
		case !validName(prov.Name):
			p.fail(path+".name", "%q must not contain \"/\", spaces or control characters", prov.Name)
		default:
			if j, dup := seen[prov.Name]; dup {
				p.fail(path+".name", "%q is already the name of providers[%d]", prov.Name, j)
			}
			seen[prov.Name] = i
		}
		if prov.Kind == "" {
			prov.Kind = KindOpenAI
		} else if prov.Kind != KindOpenAI {
			p.fail(path+".kind", "%q is not supported (the only kind is %q)", prov.Kind, KindOpenAI)
		}
		if prov.BaseURL == "" {
			p.fail(path+".base_url", "required")
		} else if msg := checkBaseURL(prov.BaseURL); msg != "" {
			p.fail(path+".base_url", "%s", msg)
		}
		for name, v := range prov.Headers {
			if !validHeaderName(name) {
				p.fail(path+".headers."+name, "not a valid HTTP header name")
			} else if strings.ContainsAny(v, "\r\n\x00") {
				p.fail(path+".headers."+name, "value must not contain line breaks")
			}
		}
		ids := map[string]int{}
		for j := range prov.Models {
			m := &prov.Models[j]
			mpath := fmt.Sprintf("%s.models[%d]", path, j)
			switch {
			case m.ID == "":
				p.fail(mpath+".id", "required")
			case !validModelID(m.ID):
				p.fail(mpath+".id", "%q must not contain spaces or control characters", m.ID)
			default:
				if k, dup := ids[m.ID]; dup {
					p.fail(mpath+".id", "%q is already the id of %s.models[%d]", m.ID, path, k)
				}
				ids[m.ID] = j
			}
			if m.ServedName == "" {
				m.ServedName = m.ID
			}
			if m.Capabilities == nil {
				m.Capabilities = slices.Clone(defaultCapabilities)
			} else if len(m.Capabilities) == 0 {
				p.fail(mpath+".capabilities", "must list at least one of %s", strings.Join(knownCapabilities, ", "))
			}
			for k, c := range m.Capabilities {
				if !slices.Contains(knownCapabilities, c) {
					p.fail(fmt.Sprintf("%s.capabilities[%d]", mpath, k), "%q is not one of %s", c, strings.Join(knownCapabilities, ", "))
				}
			}
		}
	}
	if d := cfg.DefaultProvider; d != "" {
		if _, ok := seen[d]; !ok {
			p.fail("routing.default_provider", "%q is not a provider", d)
		}
	}
}

// mapping checks that n is a mapping with only the known keys, each at most
// once, and returns the value node of each key present.
func (p *configParser) mapping(path string, n *yaml.Node, known ...string) (map[string]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(path, "must be a mapping with keys %s (line %d)", strings.Join(known, ", "), n.Line)
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(known))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		field := k.Value
		if path != "top level" {
			field = path + "." + k.Value
		}
		switch {
		case !slices.Contains(known, k.Value):
			p.fail(field, "unknown field (line %d); known fields: %s", k.Line, strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.fail(field, "listed twice (line %d)", k.Line)
		default:
			out[k.Value] = v
		}
	}
	return out, true
}

// str returns a scalar's value with variables expanded; "" for a missing
// or null node.
func (p *configParser) str(path string, n *yaml.Node) string {
	if n == nil {
		return ""
	}
	n = resolve(n)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(path, "must be a single value, not a list or mapping (line %d)", n.Line)
		return ""
	}
	v, err := expandVars(n.Value, p.getenv)
	if err != nil {
		p.fail(path, "%v (line %d)", err, n.Line)
	}
	return v
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// expandVars expands ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message}, ${VAR?message} and $$. A lone $ is kept, so secrets that
// contain $ need no escaping. Defaults may themselves contain ${...}.
func expandVars(s string, getenv func(string) string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := matchBrace(s, i+2)
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		v, err := expandOne(s[i+2:end], getenv)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i = end
	}
	return b.String(), nil
}

// matchBrace returns the index of the } closing a ${ whose body starts at
// start, or -1.
func matchBrace(s string, start int) int {
	depth := 1
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

func expandOne(body string, getenv func(string) string) (string, error) {
	name := varName.FindString(body)
	if name == "" {
		return "", fmt.Errorf("invalid variable reference ${%s}", body)
	}
	val, rest := getenv(name), body[len(name):]
	switch {
	case rest == "":
		return val, nil
	case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, "-"):
		if val != "" {
			return val, nil
		}
		return expandVars(rest[strings.Index(rest, "-")+1:], getenv)
	case strings.HasPrefix(rest, ":?"), strings.HasPrefix(rest, "?"):
		if val != "" {
			return val, nil
		}
		msg := strings.TrimSpace(rest[strings.Index(rest, "?")+1:])
		if msg == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return "", fmt.Errorf("environment variable %s is not set: %s", name, msg)
	default:
		return "", fmt.Errorf("invalid variable reference ${%s}", body)
	}
}

// checkBaseURL returns why u is not a usable base URL, or "".
func checkBaseURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a valid URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with http:// or https://", raw)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%q must not have a query or fragment", raw)
	}
	return ""
}

func validName(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r <= ' ' || r == 0x7f })
}

func validModelID(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
