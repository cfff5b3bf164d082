package apidocs_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward/apidocs"
	"github.com/keyward/keyward/internal/browsertest"
)

// opState is what the browser shows of one operation's examples.
type opState struct {
	ID     string   `json:"id"`
	Tabs   []string `json:"tabs"`   // the tabs' labels, in order
	Chosen []string `json:"chosen"` // the labels of the tabs aria-selected
	Shown  []string `json:"shown"`  // the languages of the panels displayed
	Code   int      `json:"code"`   // panels holding code
}

// statesJS reads an opState of every operation on the page.
const statesJS = `Array.from(document.querySelectorAll("article.operation")).map(a => ({
	id: a.dataset.operation,
	tabs: Array.from(a.querySelectorAll('[role="tab"]')).map(t => t.textContent.trim()),
	chosen: Array.from(a.querySelectorAll('[role="tab"][aria-selected="true"]')).map(t => t.textContent.trim()),
	shown: Array.from(a.querySelectorAll('[role="tabpanel"]')).filter(p => getComputedStyle(p).display !== "none" && p.getClientRects().length > 0).map(p => p.dataset.lang),
	code: a.querySelectorAll('[role="tabpanel"] pre code').length,
}))`

// TestPageInChromium loads /docs from a real server in headless Chromium:
// it shows every operation of the document, each with its four example
// tabs, one panel at a time; a click or an arrow key shows another panel
// and hides the rest; and nothing is refused or fails on the way (the
// Content-Security-Policy included, which Chromium reports on the
// console). Set KEYWARD_DOCS_SCREENSHOT to a .png path to keep a picture.
func TestPageInChromium(t *testing.T) {
	srv := newServer(t)
	ops := documentOperations(t)
	ctx := browsertest.New(t, chromedp.WindowSize(1440, 1000))

	stopConsole := collectConsole(ctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitReady(chromedp.CSS(`html[data-ready="true"]`)),
	); err != nil {
		t.Fatal(err)
	}

	states, err := chromedp.Run(ctx, chromedp.Evaluate[[]opState](statesJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(ops) {
		t.Fatalf("the page shows %d operations, the document has %d", len(states), len(ops))
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.sidebar a[href^="#op-"]').length`))
	if err != nil || links != len(ops) {
		t.Errorf("the sidebar links %d operations (%v), want %d", links, err, len(ops))
	}
	var labels []string
	for _, l := range apidocs.Languages {
		labels = append(labels, l.Label)
	}
	byID := map[string]opState{}
	for _, s := range states {
		byID[s.ID] = s
		if strings.Join(s.Tabs, ",") != strings.Join(labels, ",") || s.Code != len(labels) {
			t.Errorf("%s: tabs %q with %d examples, want %q with one each", s.ID, s.Tabs, s.Code, labels)
		}
		if strings.Join(s.Chosen, ",") != "curl" || strings.Join(s.Shown, ",") != "curl" {
			t.Errorf("%s at first: chosen %q, shown %q; want curl alone", s.ID, s.Chosen, s.Shown)
		}
	}
	for _, op := range ops {
		if _, ok := byID[op.ID]; !ok {
			t.Errorf("the page does not show %s", op.ID)
		}
	}

	// want checks which tab of op is chosen, which panel shows, and which
	// element has the focus (empty: not checked).
	want := func(step, op, lang, focused string) {
		t.Helper()
		states, err := chromedp.Run(ctx, chromedp.Evaluate[[]opState](statesJS))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.ID != op {
				continue
			}
			if len(s.Chosen) != 1 || len(s.Shown) != 1 || s.Shown[0] != lang {
				t.Errorf("after %s: %s has %q chosen and %q shown, want %s alone", step, op, s.Chosen, s.Shown, lang)
			}
		}
		if focused != "" {
			id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
			if err != nil || id != focused {
				t.Errorf("after %s: the focus is on %q (%v), want %q", step, id, err, focused)
			}
		}
	}

	const op = "createOrgKey"
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#tab-"+op+"-python"))); err != nil {
		t.Fatal(err)
	}
	want("a click on Python", op, "python", "tab-"+op+"-python")
	// The choice holds for every operation: a reader reads one language.
	want("a click on Python elsewhere", "getKey", "python", "")

	for _, k := range []struct{ key, lang string }{
		{kb.ArrowRight, "javascript"},
		{kb.ArrowRight, "curl"}, // wraps around
		{kb.ArrowLeft, "javascript"},
		{kb.Home, "curl"},
		{kb.End, "javascript"},
		{kb.ArrowLeft, "python"},
	} {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(k.key)); err != nil {
			t.Fatal(err)
		}
		want("a key to "+k.lang, op, k.lang, "tab-"+op+"-"+k.lang)
	}

	// The copy button copies the example shown.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#panel-"+op+"-python .copy"))); err != nil {
		t.Fatal(err)
	}
	label, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const b = document.querySelector("#panel-`+op+`-python .copy"); return b.textContent === "Copy" ? null : b.textContent; })()`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || label != "Copied" {
		t.Errorf("the copy button says %q (%v) after a click, want Copied", label, err)
	}

	if path := os.Getenv("KEYWARD_DOCS_SCREENSHOT"); path != "" {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/docs#op-"+op), chromedp.WaitReady(chromedp.CSS(`html[data-ready="true"]`))); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for _, m := range stopConsole() {
		if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
			t.Errorf("the console says: %s (%s:%d)", m, m.URL, m.Line+1)
		}
	}
}

// TestPageWithoutJavaScript: with scripts off, the page still shows every
// operation and every example, one under the other.
func TestPageWithoutJavaScript(t *testing.T) {
	srv := newServer(t)
	ops := documentOperations(t)
	ctx := browsertest.New(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/docs")); err != nil {
		t.Fatal(err)
	}
	// Scripts are off for the page, not for the test's own evaluations.
	ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.hasAttribute("data-ready")`))
	if err != nil || ready {
		t.Fatalf("the page's script ran (%v, %v): the test is not testing the page without it", ready, err)
	}
	states, err := chromedp.Run(ctx, chromedp.Evaluate[[]opState](statesJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(ops) {
		t.Fatalf("%d operations shown, want %d", len(states), len(ops))
	}
	for _, s := range states {
		if len(s.Shown) != len(apidocs.Languages) {
			t.Errorf("%s shows %q without JavaScript, want every example", s.ID, s.Shown)
		}
	}
}

// collectConsole gathers what the page of ctx writes to its console from
// now on, until stop, which returns every message.
func collectConsole(ctx context.Context) (stop func() []chromedp.ConsoleMessage) {
	cctx, cancel := context.WithCancel(ctx)
	seq := chromedp.Console(cctx)
	var mu sync.Mutex
	var got []chromedp.ConsoleMessage
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range seq {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}()
	return func() []chromedp.ConsoleMessage {
		// Let the browser deliver what the last steps wrote.
		_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`true`))
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}
