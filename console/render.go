package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// pageNames are the templates of the pages; each is parsed with
// layout.html, which draws the frame around its "content".
var pageNames = []string{
	"signin.html", "org.html", "keys.html", "key.html", "new.html", "secret.html",
	"edit.html", "rotate.html", "audit.html", "error.html",
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time":    formatTime,
	"timeISO": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"has": func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	},
	"permissions": func() []keyward.Permission { return keyward.AllPermissions },
	"query": func(pairs ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				v.Set(pairs[i], pairs[i+1])
			}
		}
		if len(v) == 0 {
			return ""
		}
		return "?" + v.Encode()
	},
}

// formatTime writes a time as the console shows it: UTC, to the minute.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// parsePages parses every page with the layout. A template that does not
// parse panics: it is a mistake in this program, found by any test.
func parsePages() map[string]*template.Template {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t := template.New(name).Funcs(funcs)
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+name))
	}
	return pages
}

// frame is what the layout shows around every page.
type frame struct {
	Title string
	Name  string // the page's template, without .html: body's data-page
	// Session is nil on the pages shown without one (sign-in, errors).
	Session *sessionView
	Nav     string // the current section: "keys" or "audit"
	Asset   string // the assets' version
	Page    any
}

// sessionView is what a page shows of its session.
type sessionView struct {
	OrgID   string
	KeyID   string
	KeyName string
	Root    bool
	CSRF    string
}

// render writes page with status. Every page is Cache-Control: no-store:
// each shows keys, events, or a form's token.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, sess *session, title string, data any) {
	f := frame{Title: title, Name: strings.TrimSuffix(page, ".html"), Asset: s.assetVersion, Page: data}
	if sess != nil {
		f.Session = &sessionView{OrgID: string(sess.OrgID), KeyID: sess.caller.ID.String(), KeyName: sess.caller.Name, Root: sess.caller.Root, CSRF: sess.CSRF}
		switch {
		case strings.HasPrefix(r.URL.Path, Prefix+"/audit"):
			f.Nav = "audit"
		case strings.HasPrefix(r.URL.Path, Prefix+"/keys"):
			f.Nav = "keys"
		}
	}
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", f); err != nil {
		s.logger.Error("console template failed", "page", page, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprint(&buf, "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is what the error page shows.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// renderError writes an HTML error page: the console's errors are pages,
// not problem documents.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.render(w, r, status, "error.html", nil, http.StatusText(status), errorPage{Status: status, Heading: http.StatusText(status), Message: message})
}

// serviceError answers a failure of the service as a page: the domain's
// message where it has one safe to show, and for anything internal a
// generic one (the cause is logged, with the request's id).
func (s *server) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. Try again in a moment."
	switch keyward.ErrorCode(err) {
	case keyward.ENOTFOUND:
		status, msg = http.StatusNotFound, "There is no such key in this organization (it may have been deleted)."
	case keyward.EFORBIDDEN:
		status, msg = http.StatusForbidden, keyward.ErrorMessage(err)+"."
	case keyward.EINVALID:
		status, msg = http.StatusBadRequest, keyward.ErrorMessage(err)+"."
	case keyward.ECONFLICT:
		status, msg = http.StatusConflict, keyward.ErrorMessage(err)+"."
	case keyward.EPRECONDITION:
		status, msg = http.StatusPreconditionFailed, "The key was changed by someone else since this page was loaded. Open it again, check, and repeat the change if it still applies."
	case keyward.EUNAVAILABLE:
		status, msg = http.StatusServiceUnavailable, "The database did not answer in time. Try again in a moment."
	default:
		id, _ := r.Context().Value(requestIDKey{}).(string)
		s.logger.Error("console request failed", "route", r.Pattern, "request_id", id, "err", err)
	}
	s.render(w, r, status, "error.html", nil, http.StatusText(status), errorPage{Status: status, Heading: http.StatusText(status), Message: msg})
}
