package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// maxQueryErrors bounds the parameters one problem lists: a query string
// can name thousands.
const maxQueryErrors = 8

// query admits a request only if its query string holds no parameter but
// the ones named, each at most once, spelled exactly so. A parameter the
// route does not read would otherwise be ignored in silence:
// GET /orgs/acme/api_keys?name=x would list every key, and the client
// would take the list for a filtered one. A parameter given twice would be
// read as its first value by Keyward and perhaps as its last by a proxy in
// front of it. Like an unknown body field, either is a 400 naming it.
func query(next http.Handler, allowed ...string) http.Handler {
	takes := "this route takes no query parameters"
	if len(allowed) > 0 {
		takes = "this route takes only " + strings.Join(allowed, ", ")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" { // nearly every request: nothing to parse
			next.ServeHTTP(w, r)
			return
		}
		if err := checkQuery(r.URL.RawQuery, allowed, takes); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQuery refuses a query string that does not parse, or that names a
// parameter not allowed or names one twice. The parameters' values, which
// may hold anything, are never quoted.
func checkQuery(raw string, allowed []string, takes string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return keyward.Invalid("the query string is malformed: parameters are name=value pairs joined by '&', percent-encoded")
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // one answer for one query, whatever the map's order
	var bad []keyward.FieldError
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			bad = append(bad, keyward.FieldError{Field: fieldLabel(name), Reason: "is not a known query parameter: " + takes})
		case len(q[name]) > 1:
			bad = append(bad, keyward.FieldError{Field: name, Reason: "is given more than once"})
		}
		if len(bad) == maxQueryErrors {
			break
		}
	}
	if len(bad) > 0 {
		return keyward.Invalid("invalid query", bad...)
	}
	return nil
}
