package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS lets web pages of the listed origins call the API from a browser
// (the Fetch standard's CORS protocol). Without it (the default), the API
// answers exactly as it would to any other client, and a browser keeps
// pages of other origins from reading the answers.
//
// The protocol runs without credentials: the API takes keys in headers,
// never cookies, so Access-Control-Allow-Credentials is never sent and
// "*" may allow every origin.
type CORS struct {
	any     bool            // "*": every origin
	origins map[string]bool // otherwise, the allowed origins, exactly as browsers send them
}

// corsAllowHeaders are the request headers the API reads that a browser
// would otherwise refuse to send: the key (Authorization, X-API-Key), a
// JSON or merge-patch body's type, a create's Idempotency-Key, a change's
// If-Match, and the caller's X-Request-Id.
const corsAllowHeaders = "Authorization, X-API-Key, Content-Type, Idempotency-Key, If-Match, X-Request-Id"

// corsExposeHeaders are the response headers a page may read beyond those
// CORS always exposes (Content-Type, Cache-Control, ...): a key's ETag
// for If-Match, a create's Location, the Link to a next page or the
// audit log, Retry-After of a 429 or 503, the request id to quote in a
// report, and why a key was refused (WWW-Authenticate) or which patch
// types are taken (Accept-Patch).
const corsExposeHeaders = "ETag, Location, Link, Retry-After, X-Request-Id, WWW-Authenticate, Accept-Patch"

// Header values set on many answers, shared as verify.go's are: no one
// changes a header value in place.
var (
	headerVaryOrigin   = []string{"Origin"}
	headerCORSExpose   = []string{corsExposeHeaders}
	headerAnyOrigin    = []string{"*"}
	headerCORSMaxAge   = []string{corsMaxAge}
	headerCORSAllowHdr = []string{corsAllowHeaders}
)

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's
// answer: two hours, Chromium's cap.
const corsMaxAge = "7200"

// corsMethods are the methods a preflight may ask about, in the order
// Access-Control-Allow-Methods lists those a path takes.
var corsMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// NewCORS allows browser calls from origins: each an exact origin,
// scheme://host[:port] as a browser sends it in the Origin header
// (https://app.example.com, http://localhost:3000), or "*" alone for
// every origin. It refuses, saying why, anything that no browser would
// send and so would silently match nothing: a path or a trailing slash,
// a default port, a scheme other than http or https, a host not in ASCII,
// and the "null" origin of sandboxed pages and files, which any page can
// make itself send.
func NewCORS(origins []string) (*CORS, error) {
	if len(origins) == 0 {
		return nil, errors.New("no origin given: list exact origins such as https://app.example.com, or *")
	}
	c := &CORS{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			if len(origins) > 1 {
				return nil, errors.New("* allows every origin: give it alone")
			}
			c.any = true
			return c, nil
		}
		norm, err := parseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", o, err)
		}
		c.origins[norm] = true
	}
	return c, nil
}

// parseOrigin checks that s is an origin as browsers serialize it, and
// returns it with its scheme and host in lower case, as they send it.
func parseOrigin(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty (a stray comma?)")
	}
	if strings.EqualFold(s, "null") {
		return "", errors.New(`"null" is the origin of sandboxed pages and local files, which any page can take on; it cannot be allowed`)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c == 0x7f:
			return "", errors.New("holds a space or a control character")
		case c >= 0x80:
			return "", errors.New("write it in ASCII, with an internationalized host in its xn-- (punycode) form, as browsers send it")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL origin: want scheme://host[:port], such as https://app.example.com")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", errors.New("want an http:// or https:// origin, such as https://app.example.com")
	case u.Host == "" || u.Opaque != "":
		return "", errors.New("no host: want scheme://host[:port], such as https://app.example.com")
	case u.User != nil:
		return "", errors.New("an origin has no user name or password")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#"):
		return "", errors.New("an origin has no path, query or fragment, not even a trailing slash: want scheme://host[:port]")
	}
	if port := u.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return "", fmt.Errorf("browsers leave the default port out of the origin: write %s://%s", scheme, strings.ToLower(u.Hostname()))
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port: write scheme://host or scheme://host:port")
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// allows reports whether a page of origin may read the API's answers.
func (c *CORS) allows(origin string) bool { return c.any || c.origins[origin] }

// allowOrigin is the Access-Control-Allow-Origin value for origin.
func (c *CORS) allowOrigin(origin string) []string {
	if c.any {
		return headerAnyOrigin
	}
	return []string{origin}
}

// wrap applies the CORS protocol in front of mux. An answer to an allowed
// origin carries Access-Control-Allow-Origin and the headers it exposes;
// with a list of origins, every answer carries Vary: Origin, since it
// depends on the origin, so that a shared cache does not hand one
// origin's answer to another. A preflight (OPTIONS with Origin and
// Access-Control-Request-Method) for a route of the API is answered here:
// 204 with what may be sent, for an allowed origin, or a 403 problem
// saying that the origin is not allowed. A preflight for a path or method
// the API does not have gets the mux's 404 or 405, as without CORS.
func (c *CORS) wrap(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if !c.any {
			if v := h["Vary"]; len(v) == 0 {
				h["Vary"] = headerVaryOrigin
			} else {
				h["Vary"] = append(v, "Origin")
			}
		}
		origin := r.Header["Origin"]
		if len(origin) == 0 {
			mux.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions {
			if method := r.Header.Get("Access-Control-Request-Method"); method != "" {
				if c.preflight(w, r, mux, origin[0], method) {
					return
				}
			}
		}
		if c.allows(origin[0]) {
			h["Access-Control-Allow-Origin"] = c.allowOrigin(origin[0])
			h["Access-Control-Expose-Headers"] = headerCORSExpose
		}
		mux.ServeHTTP(w, r)
	})
}

// preflight answers a preflight for method from origin, and reports
// whether it did: not when no route of mux takes method at r's path.
func (c *CORS) preflight(w http.ResponseWriter, r *http.Request, mux *http.ServeMux, origin, method string) bool {
	if !standardMethod(method) || method == http.MethodOptions {
		return false
	}
	route := routeFor(mux, r, method)
	if route == "" {
		return false
	}
	h := w.Header()
	h["Vary"] = append(h["Vary"], "Access-Control-Request-Method")
	// The request's log line names the route asked about.
	_, path, _ := strings.Cut(route, " ")
	r.Pattern = http.MethodOptions + " " + path
	if !c.allows(origin) {
		writeError(w, r, errStatus(http.StatusForbidden, "this origin may not call the API from a browser: it is not among the origins the server allows"))
		return true
	}
	var methods []string
	for _, m := range corsMethods {
		if routeFor(mux, r, m) != "" {
			methods = append(methods, m)
		}
	}
	h["Access-Control-Allow-Origin"] = c.allowOrigin(origin)
	h["Access-Control-Allow-Methods"] = []string{strings.Join(methods, ", ")}
	h["Access-Control-Allow-Headers"] = headerCORSAllowHdr
	h["Access-Control-Max-Age"] = headerCORSMaxAge
	w.WriteHeader(http.StatusNoContent)
	return true
}

// routeFor returns the pattern of the route of mux that would serve
// method at r's path, or "" if there is none.
func routeFor(mux *http.ServeMux, r *http.Request, method string) string {
	probe := &http.Request{Method: method, Host: r.Host, URL: r.URL}
	_, pattern := mux.Handler(probe)
	return pattern
}
