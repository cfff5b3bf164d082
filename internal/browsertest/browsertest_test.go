package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/browsertest"
)

// TestNewRendersAPage: the browser New starts loads a page from a real
// server and runs its script, so that a test of keyward's pages measures
// the pages and not the harness.
func TestNewRendersAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="p">static</p>
<script>document.getElementById("p").textContent = "ran " + (6 * 7);</script>`)
	}))
	defer srv.Close()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#p"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "ran 42" {
		t.Fatalf("text = %q, want the script's %q", text, "ran 42")
	}
}

// TestPathFailsWhenTheVariableNamesNothing: CI names the browser; a name
// that finds none must fail, not skip.
func TestPathFailsWhenTheVariableNamesNothing(t *testing.T) {
	t.Setenv(browsertest.EnvPath, "/nonexistent/chromium")
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }()
		browsertest.Path(ft)
	}()
	if !ft.failed || ft.skipped {
		t.Fatalf("failed=%v skipped=%v, want a failure", ft.failed, ft.skipped)
	}
}

// fakeT records Fatalf and Skipf instead of ending the test; both panic to
// stop the caller as the real ones stop the goroutine.
type fakeT struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
func (f *fakeT) Skipf(format string, args ...any) {
	f.skipped = true
	panic("skip")
}
