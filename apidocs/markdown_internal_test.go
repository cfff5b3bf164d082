package apidocs

import "testing"

// TestMarkdown: the descriptions' Markdown becomes HTML, and nothing in
// a description becomes markup of its own.
func TestMarkdown(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "  \n", ""},
		{"paragraphs", "One\nline.\n\nTwo.", "<p>One line.</p>\n<p>Two.</p>\n"},
		{"code and strong", "Use `If-Match: \"3\"` **now**.", "<p>Use <code>If-Match: &#34;3&#34;</code> <strong>now</strong>.</p>\n"},
		{"markup is text", "<script>alert(1)</script> & `<b>`", "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; <code>&lt;b&gt;</code></p>\n"},
		{"an unpaired backtick", "a ` b", "<p>a ` b</p>\n"},
		{"a list", "Codes:\n\n- `VALID`: the key\n  may be used;\n- `NOT_FOUND`.", "<p>Codes:</p>\n<ul>\n<li><code>VALID</code>: the key may be used;</li>\n<li><code>NOT_FOUND</code>.</li>\n</ul>\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(markdown(tt.in)); got != tt.want {
				t.Errorf("markdown(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
