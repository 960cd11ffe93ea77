package lexers

import (
	"testing"

	"github.com/alecthomas/chroma/v2"
)

// TestRegistryBuiltOnFirstUse: nothing is parsed until a lexer is asked
// for, then once; the XML languages and the Go ones are all there.
func TestRegistryBuiltOnFirstUse(t *testing.T) {
	if Built() {
		t.Fatal("the registry was built before any lexer was asked for")
	}
	for _, name := range []string{"go", "python", "bash", "json", "typescript", "rust", "sql", "yaml", "html", "markdown", "go-text-template"} {
		if Get(name) == nil {
			t.Errorf("no lexer for %q", name)
		}
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("the registry was built %d times, want once", n)
	}
	if Get("no-such-language") != nil {
		t.Error("a lexer for an unknown language")
	}
	if l := Analyse("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n"); l == nil || l.Config().Name != "Go" {
		t.Errorf("Analyse(Go source) = %v", l)
	}
	it, err := chroma.Coalesce(Get("go")).Tokenise(nil, "func f() { return `x` }\n")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []chroma.TokenType
	for tok := it(); tok != chroma.EOF; tok = it() {
		kinds = append(kinds, tok.Type)
	}
	if len(kinds) < 5 || kinds[0] != chroma.KeywordDeclaration {
		t.Errorf("Go tokens = %v", kinds)
	}
}
