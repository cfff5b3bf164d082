// Command dashboard renders docs/grafana/keyward.json, the Grafana
// dashboard of keyward's metrics, to a PNG: it runs each panel's queries
// against a real Prometheus (/api/v1/query_range), with the variables
// substituted as Grafana would, lays the panels out by their grid
// positions in Grafana's dark theme (time series in SVG, with axes in the
// panel's unit, legends and threshold lines; stat panels with their
// value mappings), and has a headless Chromium take the screenshot.
//
// It is not Grafana, and the picture says so: Grafana cannot be installed
// where keyward is built. docs/grafana/render.sh runs it after a real run
// (keyward, traffic through it, Prometheus scraping it).
//
//	go run ./tools/dashboard -prometheus http://127.0.0.1:19090 -last 7m -out docs/grafana/dashboard.png
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/dashboard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// setFlags are -var name=value flags.
type setFlags map[string]string

func (s setFlags) String() string { return fmt.Sprint(map[string]string(s)) }

func (s setFlags) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want name=value", v)
	}
	s[name] = val
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	path := fs.String("dashboard", "docs/grafana/keyward.json", "the dashboard's JSON")
	promURL := fs.String("prometheus", "http://127.0.0.1:9090", "the Prometheus to query")
	last := fs.Duration("last", 10*time.Minute, "the range shown, ending at -end")
	endAt := fs.String("end", "", "end of the range, RFC 3339 (default: now)")
	scrape := fs.Duration("scrape-interval", 5*time.Second, "the Prometheus's scrape interval, for $__rate_interval")
	width := fs.Int("width", 1800, "width of the page, in CSS pixels")
	out := fs.String("out", "docs/grafana/dashboard.png", "the PNG to write")
	htmlOut := fs.String("html", "", "also write the page to this file")
	chromium := fs.String("chromium", os.Getenv("KEYWARD_TEST_CHROMIUM"), "the Chromium to take the screenshot with (default: chromium on the PATH)")
	note := fs.String("note", "Rendered by tools/dashboard from docs/grafana/keyward.json and a real Prometheus's data; not a screenshot of Grafana, which could not be installed here.",
		"the note in the header")
	set := setFlags{}
	fs.Var(set, "var", "a template variable's value, name=value (repeatable; default: All)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	end := time.Now()
	if *endAt != "" {
		t, err := time.Parse(time.RFC3339, *endAt)
		if err != nil {
			return fmt.Errorf("-end: %w", err)
		}
		end = t
	}
	d, err := dashboard.Load(*path)
	if err != nil {
		return err
	}
	// Grafana's step: the range over the points a panel of this width
	// holds, at least the scrape interval.
	step := max(*scrape, (*last / time.Duration(*width/2)).Round(time.Second))
	end = end.Truncate(step)
	r := ranged{Start: end.Add(-*last), End: end, Step: step}
	vars := templateVariables(d, set)
	for k, v := range builtin(step, *scrape, *last) {
		vars[k] = v
	}
	api := prometheusAPI{base: strings.TrimRight(*promURL, "/"), client: &http.Client{Timeout: 30 * time.Second}}
	panels, err := fetch(ctx, api, d, vars, r)
	if err != nil {
		return err
	}
	pg := page{Title: d.Title, Range: r, Footnote: *note}
	for _, v := range d.Templating.List {
		shown := set[v.Name]
		switch {
		case v.Type == "datasource":
			shown = "Prometheus"
		case shown == "":
			shown = "All"
		}
		pg.Vars = append(pg.Vars, label(v)+": "+shown)
	}
	doc := renderHTML(pg, panels, *width)
	if *htmlOut != "" {
		if err := os.WriteFile(*htmlOut, []byte(doc), 0o644); err != nil {
			return fmt.Errorf("write page: %w", err)
		}
	}
	png, err := screenshot(ctx, *chromium, doc, *width, layout{width: *width}.height(panels))
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, png, 0o644); err != nil {
		return fmt.Errorf("write screenshot: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d panels, %s to %s every %s, %d bytes\n", *out, len(panels),
		r.Start.UTC().Format(time.TimeOnly), r.End.UTC().Format(time.TimeOnly), step, len(png))
	return nil
}

func label(v dashboard.Variable) string {
	if v.Label != "" {
		return v.Label
	}
	return v.Name
}

// screenshot has a headless Chromium load the page and returns a PNG of
// all of it.
func screenshot(ctx context.Context, chromium, doc string, width, height int) ([]byte, error) {
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
		if chromium == "" {
			return nil, errors.New("no Chromium on the PATH: give -chromium")
		}
	}
	dir, err := os.MkdirTemp("", "keyward-dashboard-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	page := filepath.Join(dir, "dashboard.html")
	if err := os.WriteFile(page, []byte(doc), 0o600); err != nil {
		return nil, err
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // run as root on the build machines
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
	)
	defer cancelAlloc()
	tctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	tctx, cancel := context.WithTimeout(tctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(tctx,
		chromedp.EmulateViewport(int64(width), int64(height)),
		chromedp.Navigate("file://"+page),
	); err != nil {
		return nil, fmt.Errorf("load the page in Chromium: %w", err)
	}
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return png, nil
}
