package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/browsertest"
)

// screenshotsEnv asks TestBrowser to write its screenshots to docs/console,
// where the README shows them: only when set, so that an ordinary test run
// does not rewrite tracked files.
const screenshotsEnv = "KEYWARD_CONSOLE_SCREENSHOTS"

// TestBrowser drives headless Chromium through the console as a person
// would: sign in, create a key and read its secret once, see it in the
// list, verify it through the API and see its last use and its chart
// move, rotate it, disable and enable it, delete and restore it, find each
// action in the audit log, and sign out. With KEYWARD_CONSOLE_SCREENSHOTS
// set, it saves screenshots of the main pages to docs/console.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Platform admin", keyward.PermRead, keyward.PermWrite, keyward.PermManage)
	// Keys of the organization besides the one this test makes, so that
	// the list is a list.
	for _, name := range []string{"Billing worker", "Mobile app (iOS)", "Partner: Globex"} {
		e.createKey("acme", name, keyward.PermRead)
	}
	ctx := browsertest.New(t, chromedp.WindowSize(1280, 900))
	shots := os.Getenv(screenshotsEnv) != ""
	shot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := filepath.Join("..", "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// onPage waits for a page of the given kind that is not the one
	// marked stale (see submit).
	onPage := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`body[data-page="` + name + `"]:not([data-stale])`))
	}
	// submit clicks a button that submits a form, and waits for the page
	// the answer is.
	submit := func(what, button, next string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.stale = "1"`)); err != nil {
			t.Fatal(err)
		}
		do(what, chromedp.Click(chromedp.CSS(button)), onPage(next))
	}

	// Sign in: /console sends a browser without a session to sign in.
	do("open the console", chromedp.Navigate(e.url+"/console"), onPage("signin"))
	shot("sign-in")
	do("type the key", chromedp.SendKeys(chromedp.ID("key"), admin))
	submit("sign in", `form[action="/console/sign-in"] button[type="submit"]`, "keys")
	if got := text("h1"); got != "Keys" {
		t.Fatalf("after sign-in, h1 = %q", got)
	}

	// Create a key; its secret is shown once, in the page.
	submit("open the create form", `a[href="/console/keys/new"]`, "new")
	do("fill the form",
		chromedp.SendKeys(chromedp.ID("name"), "Checkout service"),
		chromedp.Click(chromedp.CSS(`input[name="permissions"][value="write"]`)),
		chromedp.SendKeys(chromedp.ID("metadata"), `{"team": "payments", "plan": "pro"}`),
		chromedp.SendKeys(chromedp.ID("rate_limits"), "requests 600 60s"),
		chromedp.SendKeys(chromedp.ID("credits"), "100000"),
	)
	shot("new")
	submit("create the key", `form[action="/console/keys/new"] button[type="submit"]`, "secret")
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil || !secretInPage.MatchString(secret) {
		t.Fatalf("the created page shows no secret: %q, %v", secret, err)
	}
	if !strings.Contains(text(".warning"), "shown this once") {
		t.Errorf("the created page does not warn that the secret is shown once")
	}
	do("copy the secret", chromedp.Click(chromedp.CSS(`button[data-copy]`)))
	shot("created")
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`.secret-card .actions a`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	keyHref := href.Value
	id, err := keyward.ParseKeyID(strings.TrimPrefix(keyHref, "/console/keys/"))
	if err != nil {
		t.Fatalf("the created page links to %q", keyHref)
	}

	// The list shows it, never its secret.
	submit("open the list", `.nav a[href="/console/keys"]`, "keys")
	list := text("table.keys")
	if !strings.Contains(list, "Checkout service") || strings.Contains(list, secret) {
		t.Fatalf("the list: %s", list)
	}
	shot("keys")

	// Verify it through the API: its last use and its chart move. The
	// chart also shows a week of earlier use, as a key in service has,
	// recorded through the same recorder with earlier times.
	do("open the key", chromedp.Navigate(e.url+keyHref), onPage("key"))
	if got := text(`[data-fact="last-used"] dd`); got != "never" {
		t.Errorf("a new key's last use: %q, want never", got)
	}
	seedWeek(e, id)
	if err := e.lastUsed.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	do("reload the key", chromedp.Reload(), onPage("key"))
	before := chartTotal(t, ctx)
	const verifications = 7
	for range verifications {
		if code := e.verify(secret); code != "VALID" {
			t.Fatalf("verify the new key: %s", code)
		}
	}
	if err := e.lastUsed.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	do("reload the key", chromedp.Reload(), onPage("key"))
	if got := text(`[data-fact="last-used"] dd`); !strings.HasSuffix(got, "UTC") {
		t.Errorf("after verifications, the key's last use: %q", got)
	}
	if after := chartTotal(t, ctx); after != before+verifications {
		t.Errorf("the chart's valid verifications went from %d to %d, want %d more", before, after, verifications)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart-svg rect").length`))
	if err != nil || bars == 0 {
		t.Errorf("the chart has %d bars (%v)", bars, err)
	}
	shot("key")
	do("narrow viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Reload(), onPage("key"))
	shot("key-narrow")
	do("wide viewport", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), onPage("key"))

	// Rotate with a grace period: both secrets work meanwhile.
	submit("open rotate", `a[href$="/rotate"]`, "rotate")
	do("grace period", chromedp.SetValue(chromedp.ID("grace_period"), "1h"))
	submit("rotate", `form[action$="/rotate"] button[type="submit"]`, "secret")
	rotated, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil || !secretInPage.MatchString(rotated) || rotated == secret {
		t.Fatalf("the rotated page shows no new secret: %v", err)
	}
	if old, cur := e.verify(secret), e.verify(rotated); old != "VALID" || cur != "VALID" {
		t.Fatalf("after a rotation with a grace period: old %s, new %s", old, cur)
	}

	// Disable and enable.
	do("back to the key", chromedp.Navigate(e.url+keyHref), onPage("key"))
	submit("disable", `form[action$="/disable"] button`, "key")
	if code := e.verify(rotated); code != "DISABLED" {
		t.Fatalf("a key disabled in the console verifies %s", code)
	}
	submit("enable", `form[action$="/enable"] button`, "key")
	if code := e.verify(rotated); code != "VALID" {
		t.Fatalf("a key enabled in the console verifies %s", code)
	}

	// Delete (the page asks first: yes) and restore.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = () => true, true`)); err != nil {
		t.Fatal(err)
	}
	submit("delete", `form[action$="/delete"] button`, "keys")
	if code := e.verify(rotated); code != "NOT_FOUND" {
		t.Fatalf("a key deleted in the console verifies %s", code)
	}
	submit("restore", `form[action="/console/keys/`+id.String()+`/restore"] button`, "key")
	if code := e.verify(rotated); code != "VALID" {
		t.Fatalf("a key restored in the console verifies %s", code)
	}

	// Every action is in the audit log.
	submit("open the audit log", `.nav a[href="/console/audit"]`, "audit")
	log := strings.ToLower(text("table.events")) // the badges are upper case on screen
	for _, action := range []string{"create", "rotate", "disable", "enable", "delete", "restore"} {
		if !strings.Contains(log, action) {
			t.Errorf("the audit log has no %s: %s", action, log)
		}
	}
	shot("audit")

	// Sign out: the session is over, here and everywhere.
	submit("sign out", `form[action="/console/sign-out"] button`, "signin")
	if got := text(".notice"); !strings.Contains(got, "signed out") {
		t.Errorf("after sign-out: %q", got)
	}
	do("open the keys again", chromedp.Navigate(e.url+"/console/keys"), onPage("signin"))

	e.checkNoSecret(secret)
	e.checkNoSecret(rotated)
	e.checkNoSecret(admin)
}

// chartTotal reads the valid verifications the key's chart says.
func chartTotal(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".legend strong")))
	if err != nil {
		t.Fatalf("the chart's legend: %v", err)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("the chart's legend says %q", s)
	}
	return n
}

// seedWeek records a week of earlier verifications of key id, a working
// week's rhythm with a few refusals, as a key in service shows: through
// the service's recorder, with earlier times, so that they reach the
// store, and the chart, as real ones do.
func seedWeek(e *env, id keyward.KeyID) {
	now := time.Now().UTC().Truncate(time.Hour)
	for h := 1; h < 7*24; h++ {
		at := now.Add(-time.Duration(h) * time.Hour)
		hour := at.Hour()
		n := 4 + (hour*7+h)%9
		if hour >= 8 && hour <= 18 {
			n += 20 + (h*13)%25
		}
		if at.Weekday() == time.Saturday || at.Weekday() == time.Sunday {
			n /= 3
		}
		for i := range n {
			code := keyward.VerifyValid
			if i%17 == 16 {
				code = keyward.VerifyRateLimited
			}
			e.lastUsed.RecordVerification(id, at, code)
		}
	}
}
