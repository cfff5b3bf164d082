package apidocs

import (
	"html/template"
	"strings"
)

// markdown renders the little Markdown the document's descriptions use:
// paragraphs, "- " lists (an item continues on indented lines), `code`
// and **strong**. Everything else is text: every character is escaped
// first, so no description can put markup on the page.
func markdown(s string) template.HTML {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, block := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		if len(lines) == 0 || lines[0] == "" {
			continue
		}
		if strings.HasPrefix(lines[0], "- ") {
			writeList(&b, lines)
			continue
		}
		b.WriteString("<p>")
		b.WriteString(inline(strings.Join(lines, " ")))
		b.WriteString("</p>\n")
	}
	return template.HTML(b.String())
}

// writeList writes a "- " list; a line that does not start an item
// continues the one before.
func writeList(b *strings.Builder, lines []string) {
	var items []string
	for _, l := range lines {
		if item, ok := strings.CutPrefix(l, "- "); ok {
			items = append(items, item)
			continue
		}
		items[len(items)-1] += " " + strings.TrimSpace(l)
	}
	b.WriteString("<ul>\n")
	for _, item := range items {
		b.WriteString("<li>")
		b.WriteString(inline(item))
		b.WriteString("</li>\n")
	}
	b.WriteString("</ul>\n")
}

// inline escapes s and renders its `code` and **strong** spans. A
// backtick without its pair is kept as text.
func inline(s string) string {
	var b strings.Builder
	for i, part := range splitPairs(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>")
			b.WriteString(template.HTMLEscapeString(part))
			b.WriteString("</code>")
			continue
		}
		for j, p := range splitPairs(part, "**") {
			if j%2 == 1 {
				b.WriteString("<strong>")
				b.WriteString(template.HTMLEscapeString(p))
				b.WriteString("</strong>")
				continue
			}
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return b.String()
}

// splitPairs splits s at sep, so that the odd parts are those between a
// pair of seps; a last sep without its pair stays in the text.
func splitPairs(s, sep string) []string {
	parts := strings.Split(s, sep)
	if len(parts)%2 == 0 { // an odd number of seps: the last one is text
		last := parts[len(parts)-2] + sep + parts[len(parts)-1]
		parts = append(parts[:len(parts)-2], last)
	}
	return parts
}
