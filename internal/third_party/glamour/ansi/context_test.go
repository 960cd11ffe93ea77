package ansi

import "testing"

// TestStripTags: what bluemonday's StrictPolicy kept of each input, then
// unescaped (SanitizeHTML).
func TestStripTags(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":                        "plain text",
		"<b>bold</b> and <i>it</i>":         "bold and it",
		"a < b and c > d":                   "a < b and c > d",
		"x <br/> y <br> z":                  "x  y  z",
		"<script>alert(1)</script>after":    "after",
		"<STYLE type=x>p{}</style>shown":    "shown",
		"<!-- note -->text":                 "text",
		"<a href=\"https://x\">link</a>":    "link",
		"&lt;tag&gt; &amp; more":            "<tag> & more",
		"unclosed <div":                     "unclosed ",
		"</>empty":                          "empty",
		"<title>t</title><p>body</p>":       "body",
		"<iframe src=x/>dropped to the end": "", // as in HTML: no self-closing iframe
	} {
		if got := (RenderContext{}).SanitizeHTML(in, false); got != want {
			t.Errorf("SanitizeHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
