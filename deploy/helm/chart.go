// Package helm holds jan's Helm chart (jan/) and its example values
// (examples/) for the jan binary: `jan deploy render` renders the chart
// without Helm (internal/deploy).
package helm

import (
	"embed"
	"io/fs"
)

//go:embed all:jan examples
var files embed.FS

// Chart is the chart's directory: Chart.yaml, values.yaml, templates/.
func Chart() fs.FS {
	sub, err := fs.Sub(files, "jan")
	if err != nil {
		panic(err)
	}
	return sub
}

// Examples are the example values files, by name without ".yaml".
func Examples() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := fs.ReadDir(files, "examples")
	for _, e := range entries {
		b, err := fs.ReadFile(files, "examples/"+e.Name())
		if err == nil {
			out[e.Name()[:len(e.Name())-len(".yaml")]] = b
		}
	}
	return out
}
