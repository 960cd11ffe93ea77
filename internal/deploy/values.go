package deploy

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// readValues is the chart's values.yaml with each values file merged over
// it in turn, then the --set values, as Helm merges them: maps merge key by
// key, anything else (lists included) replaces, and null removes a default.
func readValues(chart fs.FS, o Options) (map[string]any, error) {
	b, err := fs.ReadFile(chart, "values.yaml")
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("chart: values.yaml: %w", err)
	}
	for i, f := range o.Values {
		over := map[string]any{}
		if err := yaml.Unmarshal(f, &over); err != nil {
			return nil, fmt.Errorf("values file %d: %w", i+1, err)
		}
		merge(values, over)
	}
	for _, s := range o.Set {
		over, err := parseSet(s)
		if err != nil {
			return nil, err
		}
		merge(values, over)
	}
	return values, nil
}

// merge merges over into base, in place.
func merge(base, over map[string]any) {
	for k, v := range over {
		if v == nil {
			delete(base, k)
			continue
		}
		bm, bok := base[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			merge(bm, om)
			continue
		}
		base[k] = v
	}
}

// parseSet reads a --set argument: key.path=value pairs, comma-separated.
// Values are typed as Helm's --set types them: integers, true/false and
// null; anything else is a string. A comma or dot in a key or value is
// written \, or \. (lists need a values file).
func parseSet(s string) (map[string]any, error) {
	out := map[string]any{}
	for _, pair := range splitEscaped(s, ',') {
		key, val, ok := cutEscaped(pair, '=')
		if !ok || key == "" {
			return nil, fmt.Errorf("--set %q: want key.path=value", pair)
		}
		if strings.ContainsAny(key, "[]") {
			return nil, fmt.Errorf("--set %q: list indexes are not supported here; put lists in a values file (-f)", pair)
		}
		parts := splitEscaped(key, '.')
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[unescape(p)].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[unescape(p)] = next
			}
			m = next
		}
		m[unescape(parts[len(parts)-1])] = typed(unescape(val))
	}
	return out, nil
}

func typed(v string) any {
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && (v == "0" || !strings.HasPrefix(v, "0")) {
		return n
	}
	return v
}

// splitEscaped splits s at sep, except where sep is escaped with \.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// cutEscaped cuts s at the first unescaped sep.
func cutEscaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
