// Package lexers is the lexer registry of chroma v2.14.0
// (github.com/alecthomas/chroma/v2/lexers, MIT, see ../COPYING), built on
// first use instead of at start-up.
//
// chroma's own package parses its 240 embedded lexer definitions in a
// package initialiser: 13 ms and 2.3 MB of allocations in every jan
// process, jan serve's included, though only the chat's Markdown renderer
// ever highlights code (docs/BENCHMARKS.md, issue 17). Here the same
// definitions (embedded/, unchanged) and the Go and Markdown lexers (go.go,
// markdown.go, chroma's rules as functions) are registered the first time
// Get or Analyse is called. Left out: chroma's other lexers written in Go
// (Caddyfile, DNS and MySQL analysers, Genshi, Haxe, HTTP, Raku, reST,
// Svelte, TypoScript, the Lisp type remappings, PHP inside HTML); code in
// those languages renders without colours, or with the XML definition of
// the same language where there is one.
package lexers

import (
	"embed"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/alecthomas/chroma/v2"
)

//go:embed embedded
var embedded embed.FS

// builds counts the registry's constructions (for tests: at most one).
var builds atomic.Int32

var registry = sync.OnceValue(func() *chroma.LexerRegistry {
	builds.Add(1)
	reg := chroma.NewLexerRegistry()
	paths, err := fs.Glob(embedded, "embedded/*.xml")
	if err != nil {
		panic(err)
	}
	for _, path := range paths {
		reg.Register(chroma.MustNewXMLLexer(embedded, path))
	}
	html := reg.Get("HTML")
	reg.Register(goLexer())
	reg.Register(goHTMLTemplateLexer(html))
	reg.Register(goTextTemplate())
	reg.Register(markdownLexer(html))
	return reg
})

// Built reports whether the registry has been built.
func Built() bool { return builds.Load() > 0 }

// Get returns the lexer for a name, alias or file extension, or nil.
func Get(name string) chroma.Lexer { return registry().Get(name) }

// Analyse returns the lexer whose analyser rates text highest, or nil.
func Analyse(text string) chroma.Lexer { return registry().Analyse(text) }

// Fallback is the plain-text lexer for code no lexer claims.
var Fallback = sync.OnceValue(func() chroma.Lexer {
	return chroma.MustNewLexer(&chroma.Config{Name: "fallback", Filenames: []string{"*"}, Priority: -1},
		func() chroma.Rules {
			return chroma.Rules{"root": []chroma.Rule{{Pattern: `.+`, Type: chroma.Text}, {Pattern: `\n`, Type: chroma.Text}}}
		})
})

// rule is a chroma.Rule (chroma's rules are written positionally).
func rule(pattern string, typ chroma.Emitter, mutator chroma.Mutator) chroma.Rule {
	return chroma.Rule{Pattern: pattern, Type: typ, Mutator: mutator}
}
