// Package browsertest gives tests a real, headless Chromium to drive with
// chromedp: the pages keyward serves (the API reference, the console) are
// tested in the browser their users have, not against a parser's idea of
// one.
//
// The browser is $KEYWARD_TEST_CHROMIUM or, when that is unset, the first
// of chromium, chromium-browser, google-chrome and google-chrome-stable on
// the PATH. A test that needs a browser is skipped when the variable is
// unset and none is found, so that `go test ./...` passes on a machine
// without one; it fails when the variable is set and the browser does not
// start, so that CI, which sets it (after installing Debian's chromium when
// missing), cannot pass by skipping. (As packages pgtest and redistest do
// for their servers.)
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvPath names the environment variable that holds the path (or the name,
// looked up on the PATH) of the Chromium binary the tests drive.
const EnvPath = "KEYWARD_TEST_CHROMIUM"

// candidates are the names a Chromium goes by, tried in order when EnvPath
// is unset.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// startTimeout bounds the browser's start, and Timeout each test's use of
// it: a page that never finishes loading fails the test instead of hanging
// it until go test's own timeout.
const (
	startTimeout = 30 * time.Second
	Timeout      = 2 * time.Minute
)

// Path returns the Chromium binary to drive. It skips the test when EnvPath
// is unset and no Chromium is on the PATH, and fails it when EnvPath is set
// to something that cannot be found.
func Path(t testing.TB) string {
	t.Helper()
	if env := os.Getenv(EnvPath); env != "" {
		p, err := exec.LookPath(env)
		if err != nil {
			t.Fatalf("%s=%s: %v", EnvPath, env, err)
		}
		return p
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("no Chromium on the PATH (tried %v); install Debian's chromium or set %s to run these tests", candidates, EnvPath)
	return ""
}

// New starts a headless Chromium for the test and returns a chromedp
// context for one tab in it, which ends after Timeout. The browser stops
// when the test ends. Options such as chromedp.WindowSize are added to the
// defaults: headless, no sandbox (tests may run as root, where Chromium's
// sandbox refuses to start), no GPU, no first-run pages, and no network
// traffic of its own (no component updates, no safe-browsing lists).
func New(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Path(t)
	all := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(t.TempDir()),
	}, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// The first Run starts the browser; a Chromium that cannot start
	// fails here, with its reason, rather than in the test's first step.
	// (Not with a context that times out: the first Run's context owns the
	// browser, which would stop when that context ends.)
	late := time.AfterFunc(startTimeout, cancelTab)
	err := chromedp.Do(ctx)
	if !late.Stop() {
		cancelAlloc()
		t.Fatalf("Chromium (%s) did not start within %s", path, startTimeout)
	}
	if err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab() // closes the tab and, being the first, the browser
		cancelAlloc()
	})
	return ctx
}
