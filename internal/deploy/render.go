// Package deploy renders jan's Helm chart without Helm, for `jan deploy
// render`: the chart's values merged as Helm merges them, its templates run
// through Go's text/template with the functions the chart uses (Helm's and
// the Sprig functions of the same names and meanings). Objects come out as
// `helm template` prints them, a test in deploy/helm holds the two to the
// same objects for the default values and every example.
package deploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// Options says what to render.
type Options struct {
	Release   string   // the release name (default "jan")
	Namespace string   // default "default"
	Values    [][]byte // values files (YAML), each merged over the last
	Set       []string // key.path=value, merged last (as helm --set)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// chartMeta is the part of Chart.yaml templates read (.Chart).
type chartMeta struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"appVersion"`
	Description string `json:"description"`
	Type        string `json:"type"`
}

// Render renders the chart in chart (a directory holding Chart.yaml,
// values.yaml and templates/) and returns the manifests, each document
// headed by "# Source: <chart>/templates/<file>" as helm template does.
func Render(chart fs.FS, o Options) (string, error) {
	if o.Release == "" {
		o.Release = "jan"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	// Helm's rules: a release name is a DNS-1123 label of at most 53
	// characters (its objects' names add suffixes), a namespace one of 63.
	if len(o.Release) > 53 || !dnsLabel.MatchString(o.Release) {
		return "", fmt.Errorf("release name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most 53 characters", o.Release)
	}
	if len(o.Namespace) > 63 || !dnsLabel.MatchString(o.Namespace) {
		return "", fmt.Errorf("namespace %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", o.Namespace)
	}
	var meta chartMeta
	b, err := fs.ReadFile(chart, "Chart.yaml")
	if err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	if err := yaml.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("chart: Chart.yaml: %w", err)
	}
	values, err := readValues(chart, o)
	if err != nil {
		return "", err
	}
	top := map[string]any{
		"Values": values,
		"Release": map[string]any{"Name": o.Release, "Namespace": o.Namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart": map[string]any{"Name": meta.Name, "Version": meta.Version, "AppVersion": meta.AppVersion,
			"Description": meta.Description, "Type": meta.Type},
		"Capabilities": map[string]any{"KubeVersion": map[string]any{"Version": "v1.31.0", "Major": "1", "Minor": "31"}},
	}

	files, err := fs.Glob(chart, "templates/*")
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	t := template.New("chart").Option("missingkey=zero")
	t.Funcs(funcs(t))
	for _, f := range files {
		src, err := fs.ReadFile(chart, f)
		if err != nil {
			return "", err
		}
		if _, err := t.New(path.Join(meta.Name, f)).Parse(string(src)); err != nil {
			return "", fmt.Errorf("chart: %w", err)
		}
	}

	var out strings.Builder
	for _, f := range files {
		base := path.Base(f)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		name := path.Join(meta.Name, f)
		scope := map[string]any{"Template": map[string]any{"Name": name, "BasePath": path.Join(meta.Name, "templates")}}
		for k, v := range top {
			scope[k] = v
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, scope); err != nil {
			return "", renderError(err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		// Documents as helm prints them: each under its source's name.
		for _, doc := range splitDocuments(text) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(doc))
		}
	}
	return out.String(), nil
}

// splitDocuments splits a template's output at "---" lines.
func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.String())
}

// renderError makes a template's fail/required message read as Helm's
// does: the message, not the template machinery around it.
func renderError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "error calling fail: "); i >= 0 {
		return fmt.Errorf("%s", msg[i+len("error calling fail: "):])
	}
	if i := strings.Index(msg, "error calling required: "); i >= 0 {
		return fmt.Errorf("%s", msg[i+len("error calling required: "):])
	}
	return err
}
