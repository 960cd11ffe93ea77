package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// funcs are Helm's template functions (include, required, fail, toYaml,
// fromYaml, toJson) and the Sprig functions the chart uses, each with the
// meaning Sprig gives it. A chart change that calls another function fails
// to parse here, and the test that compares this renderer with Helm says so.
func funcs(t *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			if err := t.ExecuteTemplate(&b, name, data); err != nil {
				return "", err
			}
			return b.String(), nil
		},
		"required": func(msg string, v any) (any, error) {
			if s, ok := v.(string); v == nil || ok && s == "" {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"fail": func(msg string) (string, error) { return "", errors.New(msg) },
		// sigs.k8s.io/yaml, as Helm's toYaml: the bytes matter (the chart
		// hashes providers.yaml's into a checksum annotation).
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"fromYaml": func(s string) map[string]any {
			m := map[string]any{}
			if err := yaml.Unmarshal([]byte(s), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"toJson": func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		},
		"indent":  indent,
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"quote": func(vs ...any) string {
			var out []string
			for _, v := range vs {
				if v != nil {
					out = append(out, strconv.Quote(strval(v)))
				}
			}
			return strings.Join(out, " ")
		},
		"default": func(d any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"empty":    empty,
		"int":      func(v any) int { return int(toInt64(v)) },
		"int64":    toInt64,
		"float64":  toFloat64,
		"toString": strval,
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[strval(kv[i])] = kv[i+1]
			}
			if len(kv)%2 == 1 {
				m[strval(kv[len(kv)-1])] = ""
			}
			return m
		},
		"list": func(v ...any) []any { return v },
		"first": func(v any) any {
			if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Len() > 0 {
				return rv.Index(0).Interface()
			}
			return nil
		},
		"has": func(needle, haystack any) bool {
			rv := reflect.ValueOf(haystack)
			if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
				return false
			}
			for i := range rv.Len() {
				if reflect.DeepEqual(needle, rv.Index(i).Interface()) {
					return true
				}
			}
			return false
		},
		"append": func(list any, v any) []any {
			var out []any
			if rv := reflect.ValueOf(list); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
				for i := range rv.Len() {
					out = append(out, rv.Index(i).Interface())
				}
			}
			return append(out, v)
		},
		"deepCopy": deepCopy,
		"merge":    mergeMissing,
		"set": func(d map[string]any, k string, v any) map[string]any {
			d[k] = v
			return d
		},
		"hasKey":  func(d map[string]any, k string) bool { _, ok := d[k]; return ok },
		"kindIs":  func(kind string, v any) bool { return kindOf(v) == kind },
		"kindOf":  kindOf,
		"ternary": func(vt, vf any, v bool) any { return map[bool]any{true: vt, false: vf}[v] },
		"join": func(sep string, v any) string {
			return strings.Join(strslice(v), sep)
		},
		"add": func(vs ...any) int64 {
			var sum int64
			for _, v := range vs {
				sum += toInt64(v)
			}
			return sum
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trim":       strings.TrimSpace,
		"trunc": func(c int, s string) string {
			switch {
			case c < 0 && len(s)+c > 0:
				return s[len(s)+c:]
			case c >= 0 && len(s) > c:
				return s[:c]
			}
			return s
		},
		"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"upper":     strings.ToUpper,
		"lower":     strings.ToLower,
		"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix": func(p, s string) bool { return strings.HasPrefix(s, p) },
		"hasSuffix": func(p, s string) bool { return strings.HasSuffix(s, p) },
		"sha256sum": func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		},
		"regexMatch": func(re, s string) bool {
			ok, _ := regexp.MatchString(re, s)
			return ok
		},
	}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// strval is v as Sprig prints it.
func strval(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

func strslice(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			if s != nil {
				out = append(out, strval(s))
			}
		}
		return out
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]string, 0, rv.Len())
		for i := range rv.Len() {
			if e := rv.Index(i).Interface(); e != nil {
				out = append(out, strval(e))
			}
		}
		return out
	}
	if v == nil {
		return nil
	}
	return []string{strval(v)}
}

// empty is Sprig's: nil, zero numbers, false, and empty strings,
// slices and maps.
func empty(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	case reflect.Bool:
		return !rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() == 0
	case reflect.Struct:
		return false
	default:
		return rv.IsNil()
	}
}

func kindOf(v any) string {
	return reflect.ValueOf(v).Kind().String()
}

// toInt64 converts as Sprig's int64 does (through spf13/cast): numbers,
// numeric strings, booleans; anything else is 0.
func toInt64(v any) int64 {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case int32:
		return int64(v)
	case uint64:
		return int64(v)
	case float64:
		return int64(v)
	case float32:
		return int64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	case string:
		s := v
		if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
			s = s[:i] // "3.0" is 3, as cast reads it
		}
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return 0
		}
		return n
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// toFloat64 converts as Sprig's float64 does: numbers, numeric strings,
// booleans; anything else is 0.
func toFloat64(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		return f
	}
	return float64(toInt64(v))
}

// deepCopy copies maps and lists all the way down.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// mergeMissing is Sprig's merge: keys of each src that dst lacks (or holds
// empty) are set in dst, maps merging all the way down; dst wins otherwise.
func mergeMissing(dst map[string]any, srcs ...map[string]any) map[string]any {
	for _, src := range srcs {
		for k, sv := range src {
			dv, ok := dst[k]
			dm, dIsMap := dv.(map[string]any)
			sm, sIsMap := sv.(map[string]any)
			switch {
			case dIsMap && sIsMap:
				mergeMissing(dm, sm)
			case !ok || empty(dv):
				dst[k] = sv
			}
		}
	}
	return dst
}
