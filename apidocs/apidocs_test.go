package apidocs_test

import (
	"html"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apidocs"
)

// operation is one operation of the OpenAPI document.
type operation struct {
	ID, Method, Path string
}

// documentOperations lists every operation of keyward.OpenAPIDocument, by
// operationId.
func documentOperations(t *testing.T) []operation {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(keyward.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Fatalf("%s %s has no operationId", method, p)
			}
			ops = append(ops, operation{ID: op.OperationID, Method: method, Path: p})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.ID, b.ID) })
	if len(ops) < 20 {
		t.Fatalf("read only %d operations from the document", len(ops))
	}
	return ops
}

// TestEveryOperationHasItsExamples: each operation of the document has
// its four examples, and every example belongs to an operation, so that
// an operation added to the document without examples (or examples left
// behind by a removed one) fails here, naming the files.
func TestEveryOperationHasItsExamples(t *testing.T) {
	ops := documentOperations(t)
	want := map[string]bool{}
	for _, op := range ops {
		want[op.ID] = true
		for _, l := range apidocs.Languages {
			name := "examples/" + op.ID + "/" + l.File
			b, err := fs.ReadFile(apidocs.Examples, name)
			if err != nil {
				t.Errorf("%s %s (%s) has no %s example: add apidocs/%s", op.Method, op.Path, op.ID, l.Label, name)
				continue
			}
			if strings.TrimSpace(string(b)) == "" {
				t.Errorf("apidocs/%s is empty", name)
			}
		}
	}
	dirs, err := fs.ReadDir(apidocs.Examples, "examples")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, l := range apidocs.Languages {
		files[l.File] = true
	}
	for _, d := range dirs {
		if !want[d.Name()] {
			t.Errorf("apidocs/examples/%s: no operation of openapi.yaml has this operationId", d.Name())
			continue
		}
		entries, err := fs.ReadDir(apidocs.Examples, "examples/"+d.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !files[e.Name()] {
				t.Errorf("apidocs/examples/%s/%s is none of the example files the page shows", d.Name(), e.Name())
			}
		}
	}
}

// secretShaped matches a Keyward secret.
var secretShaped = regexp.MustCompile(`kw_[0-9A-Za-z]{49}`)

// TestExamplesReadTheEnvironment: no example names a server or holds a
// key; each takes them from the environment, as the page says.
func TestExamplesReadTheEnvironment(t *testing.T) {
	err := fs.WalkDir(apidocs.Examples, "examples", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(apidocs.Examples, name)
		if err != nil {
			return err
		}
		src := string(b)
		if !strings.Contains(src, "KEYWARD_URL") {
			t.Errorf("apidocs/%s does not read KEYWARD_URL", name)
		}
		if secretShaped.MatchString(src) || strings.Contains(src, "127.0.0.1") || strings.Contains(src, "localhost") {
			t.Errorf("apidocs/%s holds a key or an address of its own", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPage: the page shows every operation of the document with its four
// examples, exactly as the files hold them, and loads nothing but its own
// stylesheet and script, with no inline script or style for the
// Content-Security-Policy to refuse.
func TestPage(t *testing.T) {
	page, err := apidocs.Render()
	if err != nil {
		t.Fatal(err)
	}
	src := string(page.HTML)
	ops := documentOperations(t)
	if page.Operations != len(ops) {
		t.Errorf("the page shows %d operations, the document has %d", page.Operations, len(ops))
	}
	if n := strings.Count(src, `<article class="operation"`); n != len(ops) {
		t.Errorf("%d operation articles, want %d", n, len(ops))
	}
	for _, op := range ops {
		if !strings.Contains(src, `id="op-`+op.ID+`"`) || !strings.Contains(src, `href="#op-`+op.ID+`"`) {
			t.Errorf("%s: no section or no link in the sidebar", op.ID)
		}
		for _, l := range apidocs.Languages {
			code, err := fs.ReadFile(apidocs.Examples, "examples/"+op.ID+"/"+l.File)
			if err != nil {
				continue // TestEveryOperationHasItsExamples reports it
			}
			if got := panelCode(src, op.ID, l.ID); got != string(code) {
				t.Errorf("%s: the %s panel does not show %s as it is:\n%s", op.ID, l.Label, l.File, got)
			}
		}
	}
	if strings.Contains(src, "No ") && strings.Contains(src, ` example yet.`) {
		t.Error("the page shows a missing example")
	}
	checkSelfContained(t, src)
}

// panelCode is the code the page shows in the panel of operation op and
// language lang, unescaped.
func panelCode(src, op, lang string) string {
	_, rest, ok := strings.Cut(src, `id="panel-`+op+`-`+lang+`"`)
	if !ok {
		return ""
	}
	_, rest, ok = strings.Cut(rest, `<pre class="code"><code>`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, "</code></pre>")
	return html.UnescapeString(code)
}

// checkSelfContained fails t if the page loads anything from elsewhere or
// has inline script or style.
func checkSelfContained(t *testing.T, src string) {
	t.Helper()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script(\s+[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`(?i)<script(?:\s+(?:type|defer|async)(?:="[^"]*")?)*\s*>`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\sstyle=`),
		regexp.MustCompile(`(?i)\son[a-z]+=`),
		regexp.MustCompile(`(?i)(src|href)="(https?:)?//`),
		regexp.MustCompile(`@import|\burl\(`),
	} {
		if m := bad.FindString(src); m != "" {
			t.Errorf("the page is not self-contained: %q", m)
		}
	}
	if !strings.Contains(src, `<script src="docs/docs.js" defer></script>`) || !strings.Contains(src, `<link rel="stylesheet" href="docs/docs.css">`) {
		t.Error("the page does not load its script and stylesheet")
	}
	for _, name := range []string{"docs.css", "docs.js"} {
		a, ok := apidocs.FindAsset(name)
		if !ok || len(a.Data) == 0 || a.ETag == "" {
			t.Errorf("asset %s: %v", name, ok)
		}
		if regexp.MustCompile(`https?://|\burl\(|@import|fetch\(|XMLHttpRequest`).Match(a.Data) {
			t.Errorf("%s reaches for the network", name)
		}
	}
}
