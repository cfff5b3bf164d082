package dashboard

import (
	"fmt"
	"slices"
	"strings"
)

// functions are PromQL's functions and aggregations: an identifier that
// calls one is not a metric.
var functions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
		clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp
		floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
		histogram_sum holt_winters double_exponential_smoothing hour idelta increase irate label_join label_replace
		last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
		present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label
		sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp
		vector year`) {
		functions[f] = true
	}
	for _, a := range aggregations {
		functions[a] = true
	}
}

// aggregations are reserved words: `sum by (code) (...)` puts by between
// one and its parenthesis, and none is ever a metric's name.
var aggregations = strings.Fields("sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio")

// keywords are PromQL's words that are neither metrics nor functions.
// by, without, on, ignoring, group_left and group_right take a list of
// label names, which are skipped with them.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects,
// sorted and once each. It knows PromQL's lexical structure: strings,
// label matchers in braces, ranges and subqueries in brackets, the label
// lists of by, without, on, ignoring and group_left/right, numbers,
// durations and Grafana's $variables are not names. An identifier called
// as a function must be one of PromQL's, so that a typo in a function
// name is an error rather than a metric. A name in a __name__ matcher is
// not seen.
func MetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#': // a comment, to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, err := skipGroup(s, i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[':
			end, err := skipGroup(s, i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = end
		case c == '$': // a Grafana variable: $name, ${name}, [[name]]
			i++
			if i < len(s) && s[i] == '{' {
				end, err := skipGroup(s, i, '{', '}')
				if err != nil {
					return nil, err
				}
				i = end
				continue
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// A number (1, 0.99, 1e-3, 0x1f) or a duration (5m, 1h30m).
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.' ||
				(s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && (isIdentChar(s[i]) || s[i] == ':') {
				i++
			}
			word := s[start:i]
			lower := strings.ToLower(word)
			skipSpace()
			called := i < len(s) && s[i] == '('
			switch {
			case labelLists[lower]:
				if called {
					end, err := skipGroup(s, i, '(', ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case keywords[lower]:
				if lower == "offset" { // its duration, possibly negative
					if i < len(s) && s[i] == '-' {
						i++
					}
				}
			case slices.Contains(aggregations, lower):
			case called:
				if !functions[word] {
					return nil, fmt.Errorf("%q calls %s(), which is not a PromQL function", expr, word)
				}
			default:
				names = append(names, word)
			}
		default: // operators and parentheses
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) && c != ':' || c >= '0' && c <= '9'
}

// skipString returns the index after the string literal at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%q: string at %d not closed", s, i)
}

// skipGroup returns the index after the group opened at s[i], minding
// the strings inside it (a matcher's value may hold a brace).
func skipGroup(s string, i int, open, close byte) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("%q: %c at %d not closed", s, open, i)
}
