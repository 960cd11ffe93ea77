package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Export is a conversation with its messages, as jan chat export writes it
// in JSON.
type Export struct {
	Conversation Conversation `json:"conversation"`
	Messages     []Message    `json:"messages"`
}

// ExportJSON is the conversation and its messages as indented JSON.
func ExportJSON(c *Conversation, msgs []Message) ([]byte, error) {
	if msgs == nil {
		msgs = []Message{}
	}
	b, err := json.MarshalIndent(Export{Conversation: *c, Messages: msgs}, "", "  ")
	return append(b, '\n'), err
}

// ExportMarkdown is the conversation as Markdown: its title, then each
// message under its speaker, answers as the model wrote them. clean
// neutralises text (escape sequences) before it is written.
func ExportMarkdown(c *Conversation, msgs []Message, clean func(string) string) string {
	var b strings.Builder
	title := strings.TrimSpace(c.Title)
	if title == "" {
		title = "Untitled conversation"
	}
	fmt.Fprintf(&b, "# %s\n\n", clean(title))
	fmt.Fprintf(&b, "_%s · %s_\n", c.ID, time.Unix(c.CreatedAt, 0).UTC().Format("2006-01-02 15:04 UTC"))
	for _, m := range msgs {
		who := "You"
		switch m.Role {
		case RoleAssistant:
			who = "jan"
			if m.Model != "" {
				who += " · " + clean(m.Model)
			}
		case RoleUser:
		default:
			who = clean(m.Role)
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", who, strings.TrimRight(clean(m.Content), "\n"))
		if m.Status == StatusIncomplete {
			b.WriteString("\n_(incomplete answer)_\n")
		}
	}
	return b.String()
}
