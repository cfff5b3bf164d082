package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/dashboard"
)

// variables are the values the template variables take in a render,
// as Grafana substitutes them into a query.
type variables map[string]string

// builtin returns the values of Grafana's own variables for a range
// rendered every step from a Prometheus that scrapes every scrape:
// $__rate_interval is max($__interval + scrape, 4 × scrape), as Grafana
// computes it, so that a rate always has two samples.
func builtin(step, scrape, rng time.Duration) variables {
	rate := max(step+scrape, 4*scrape)
	return variables{
		"__interval":      promDuration(step),
		"__rate_interval": promDuration(rate),
		"__range":         promDuration(rng),
	}
}

// promDuration writes d as PromQL does: whole seconds or milliseconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// templateVariables gives each of the dashboard's query variables the
// value chosen in set, or else its "All" value (as the dashboard opens).
func templateVariables(d *dashboard.Dashboard, set map[string]string) variables {
	vars := variables{}
	for _, v := range d.Templating.List {
		switch {
		case set[v.Name] != "":
			vars[v.Name] = set[v.Name]
		case v.AllValue != "":
			vars[v.Name] = v.AllValue
		default:
			vars[v.Name] = ".*"
		}
	}
	for k, v := range set {
		vars[k] = v
	}
	return vars
}

var variableRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)`)

// expand substitutes Grafana's variables in a query: $name, ${name},
// ${name:format} and [[name]]. A variable it does not know is left as it
// is, so that Prometheus refuses the query and says where.
func (vars variables) expand(expr string) string {
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

var legendRE = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legend names a series as Grafana does: the legend format with each
// {{label}} replaced, or else the series' labels.
func legend(format string, labels map[string]string) string {
	if format != "" && format != "__auto" {
		return strings.TrimSpace(legendRE.ReplaceAllStringFunc(format, func(m string) string {
			return labels[legendRE.FindStringSubmatch(m)[1]]
		}))
	}
	var names []string
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return labels["__name__"] + "{" + strings.Join(parts, ", ") + "}"
}

// formatValue writes v in a panel's unit, as Grafana's unit names mean:
// reqps, ops, s, percentunit, bytes, short and none. decimals < 0 picks
// as many as the value needs.
func formatValue(unit string, v float64, decimals int) string {
	if math.IsNaN(v) {
		return "No data"
	}
	switch unit {
	case "percentunit":
		return number(v*100, decimals) + "%"
	case "percent":
		return number(v, decimals) + "%"
	case "s":
		return seconds(v, decimals)
	case "reqps":
		return short(v, decimals) + " req/s"
	case "ops":
		return short(v, decimals) + " ops/s"
	case "bytes":
		return scaled(v, decimals, 1024, []string{" B", " KiB", " MiB", " GiB", " TiB"})
	case "none", "":
		return number(v, decimals)
	default: // short
		return short(v, decimals)
	}
}

func short(v float64, decimals int) string {
	return scaled(v, decimals, 1000, []string{"", " K", " Mil", " Bil", " Tri"})
}

func scaled(v float64, decimals int, base float64, suffixes []string) string {
	i := 0
	for math.Abs(v) >= base && i < len(suffixes)-1 {
		v /= base
		i++
	}
	return number(v, decimals) + suffixes[i]
}

func seconds(v float64, decimals int) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0 s"
	case a < 1e-6:
		return number(v*1e9, decimals) + " ns"
	case a < 1e-3:
		return number(v*1e6, decimals) + " µs"
	case a < 1:
		return number(v*1e3, decimals) + " ms"
	case a < 60:
		return number(v, decimals) + " s"
	case a < 3600:
		return number(v/60, decimals) + " min"
	default:
		return number(v/3600, decimals) + " hour"
	}
}

// number writes v with the given decimals, or, for decimals < 0, three
// significant digits at most, without trailing zeros.
func number(v float64, decimals int) string {
	if decimals >= 0 {
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
	a := math.Abs(v)
	d := 0
	switch {
	case a == 0 || a >= 100:
	case a >= 10:
		d = 1
	case a >= 1:
		d = 2
	default:
		d = min(2-int(math.Floor(math.Log10(a))), 9)
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// niceTicks returns the ticks of an axis from lo to at least hi: about n
// of them, at steps of 1, 2 or 5 times a power of ten (for seconds too:
// 5 ms, 10 ms, 20 ms).
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for v := start; v < hi+step*0.999; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks
}
