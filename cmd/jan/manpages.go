package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeManPages writes a man page (roff, section 1) for cmd and each of its
// visible subcommands into dir: jan.1, jan-serve.1, … It is written here
// rather than with cobra/doc, whose Markdown-to-roff converter would put a
// Markdown parser's tables (blackfriday's, built at start-up) into every
// jan process for a command run once per release.
func writeManPages(cmd *cobra.Command, dir, source string) error {
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			if err := writeManPages(c, dir, source); err != nil {
				return err
			}
		}
	}
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-")
	f, err := os.Create(filepath.Join(dir, name+".1"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	writeManPage(w, cmd, source)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeManPage(w *bufio.Writer, cmd *cobra.Command, source string) {
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-")
	fmt.Fprintf(w, ".TH %q \"1\" \"\" %q \"jan manual\"\n", strings.ToUpper(name), source)
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roff(name), roff(cmd.Short))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B %s\n", roff(cmd.UseLine()))
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	fmt.Fprintf(w, ".SH DESCRIPTION\n")
	roffText(w, desc)
	flagSection := func(title string, fs *pflag.FlagSet) {
		if !fs.HasAvailableFlags() {
			return
		}
		fmt.Fprintf(w, ".SH %s\n", title)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			varname, usage := pflag.UnquoteUsage(f)
			head := `\fB\-\-` + roff(f.Name) + `\fP`
			if f.Shorthand != "" {
				head = `\fB\-` + roff(f.Shorthand) + `\fP, ` + head
			}
			if varname != "" {
				head += ` \fI` + roff(varname) + `\fP`
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
				usage += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, ".TP\n%s\n%s\n", head, roff(usage))
		})
	}
	flagSection("OPTIONS", cmd.NonInheritedFlags())
	flagSection("OPTIONS INHERITED FROM PARENT COMMANDS", cmd.InheritedFlags())
	if cmd.Example != "" {
		fmt.Fprintf(w, ".SH EXAMPLES\n.nf\n")
		for line := range strings.Lines(cmd.Example) {
			fmt.Fprintf(w, "%s\n", roffLine(strings.TrimRight(line, "\n")))
		}
		fmt.Fprintf(w, ".fi\n")
	}
	var see []string
	if p := cmd.Parent(); p != nil {
		see = append(see, strings.ReplaceAll(p.CommandPath(), " ", "-"))
	}
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			see = append(see, strings.ReplaceAll(c.CommandPath(), " ", "-"))
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(w, ".SH SEE ALSO\n")
		for i, s := range see {
			sep := ","
			if i == len(see)-1 {
				sep = ""
			}
			fmt.Fprintf(w, ".BR %s (1)%s\n", roff(s), sep)
		}
	}
}

// roffText writes text as paragraphs: a blank line starts a new one, and
// indented lines (examples, lists) keep their layout.
func roffText(w *bufio.Writer, text string) {
	fmt.Fprintf(w, ".PP\n")
	literal := false
	for line := range strings.Lines(strings.TrimSpace(text)) {
		line = strings.TrimRight(line, "\n")
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case line == "":
			if literal {
				fmt.Fprintf(w, ".fi\n")
				literal = false
			}
			fmt.Fprintf(w, ".PP\n")
			continue
		case indented && !literal:
			fmt.Fprintf(w, ".nf\n")
			literal = true
		case !indented && literal:
			fmt.Fprintf(w, ".fi\n")
			literal = false
		}
		fmt.Fprintf(w, "%s\n", roffLine(line))
	}
	if literal {
		fmt.Fprintf(w, ".fi\n")
	}
}

// roff escapes text for roff: backslashes, hyphens, and characters past
// ASCII as \[uXXXX] (a man page is read as ASCII unless preprocessed).
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// roffLine is roff for a line of text: one starting with a control
// character is kept from being read as a request.
func roffLine(s string) string {
	s = roff(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
