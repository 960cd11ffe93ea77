package lexers

import (
	. "github.com/alecthomas/chroma/v2" // nolint
)

// markdownLexer is chroma's Markdown lexer.
func markdownLexer(html Lexer) Lexer {
	return DelegatingLexer(html, MustNewLexer(
		&Config{
			Name:      "markdown",
			Aliases:   []string{"md", "mkd"},
			Filenames: []string{"*.md", "*.mkd", "*.markdown"},
			MimeTypes: []string{"text/x-markdown"},
		},
		markdownRules,
	))
}

func markdownRules() Rules {
	return Rules{
		"root": {
			rule(`^(#[^#].+\n)`, ByGroups(GenericHeading), nil),
			rule(`^(#{2,6}.+\n)`, ByGroups(GenericSubheading), nil),
			rule(`^(\s*)([*-] )(\[[ xX]\])( .+\n)`, ByGroups(Text, Keyword, Keyword, UsingSelf("inline")), nil),
			rule(`^(\s*)([*-])(\s)(.+\n)`, ByGroups(Text, Keyword, Text, UsingSelf("inline")), nil),
			rule(`^(\s*)([0-9]+\.)( .+\n)`, ByGroups(Text, Keyword, UsingSelf("inline")), nil),
			rule(`^(\s*>\s)(.+\n)`, ByGroups(Keyword, GenericEmph), nil),
			rule("^(```\\n)([\\w\\W]*?)(^```$)", ByGroups(String, Text, String), nil),
			rule(
				"^(```)(\\w+)(\\n)([\\w\\W]*?)(^```$)",
				UsingByGroup(2, 4, String, String, String, Text, String),
				nil,
			),
			Include("inline"),
		},
		"inline": {
			rule(`\\.`, Text, nil),
			rule(`(\s)(\*|_)((?:(?!\2).)*)(\2)((?=\W|\n))`, ByGroups(Text, GenericEmph, GenericEmph, GenericEmph, Text), nil),
			rule(`(\s)((\*\*|__).*?)\3((?=\W|\n))`, ByGroups(Text, GenericStrong, GenericStrong, Text), nil),
			rule(`(\s)(~~[^~]+~~)((?=\W|\n))`, ByGroups(Text, GenericDeleted, Text), nil),
			rule("`[^`]+`", LiteralStringBacktick, nil),
			rule(`[@#][\w/:]+`, NameEntity, nil),
			rule(`(!?\[)([^]]+)(\])(\()([^)]+)(\))`, ByGroups(Text, NameTag, Text, Text, NameAttribute, Text), nil),
			rule(`[^\\\s]+`, Other, nil),
			rule(`.|\n`, Other, nil),
		},
	}
}
