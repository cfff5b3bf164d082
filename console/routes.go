package console

import (
	"io/fs"
	"net/http"
	"strings"
)

// routes lists every page of the console. Each signed-in page goes
// through signedIn, which checks the session (and, for a POST, its CSRF
// token and origin); only the sign-in pages and the static assets do not.
func (s *server) routes(mux *http.ServeMux) {
	toKeys := http.RedirectHandler(Prefix+"/keys", http.StatusSeeOther)
	mux.Handle("GET "+Prefix, toKeys)
	mux.Handle("GET "+Prefix+"/{$}", toKeys)
	mux.Handle("GET "+Prefix+"/static/", s.handleStatic())

	mux.Handle("GET "+Prefix+"/sign-in", s.handleSignInForm())
	mux.Handle("POST "+Prefix+"/sign-in", s.handleSignIn())
	mux.Handle("POST "+Prefix+"/sign-out", s.handleSignOut())
	mux.Handle("GET "+Prefix+"/organization", s.handleOrgForm())
	mux.Handle("POST "+Prefix+"/organization", s.handleOrgPick())

	mux.Handle("GET "+Prefix+"/keys", s.signedIn(s.handleKeyList, false))
	mux.Handle("GET "+Prefix+"/keys/new", s.signedIn(s.handleKeyNew, false))
	mux.Handle("POST "+Prefix+"/keys/new", s.signedIn(s.handleKeyCreate, false))
	mux.Handle("GET "+Prefix+"/keys/{key_id}", s.signedIn(s.handleKeyDetail, false))
	mux.Handle("GET "+Prefix+"/keys/{key_id}/edit", s.signedIn(s.handleKeyEditForm, false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/edit", s.signedIn(s.handleKeyEdit, false))
	mux.Handle("GET "+Prefix+"/keys/{key_id}/rotate", s.signedIn(s.handleKeyRotateForm, false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/rotate", s.signedIn(s.handleKeyRotate, false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/disable", s.signedIn(s.handleKeyAction(actionDisable), false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/enable", s.signedIn(s.handleKeyAction(actionEnable), false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/delete", s.signedIn(s.handleKeyAction(actionDelete), false))
	mux.Handle("POST "+Prefix+"/keys/{key_id}/restore", s.signedIn(s.handleKeyAction(actionRestore), false))
	mux.Handle("GET "+Prefix+"/audit", s.signedIn(s.handleAudit, false))

	mux.Handle(Prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "There is no such page in the console.")
	}))
}

// handleStatic serves the embedded style sheet and script. Pages link to
// them with the assets' digest in the query, so they may be cached for a
// day.
func (s *server) handleStatic() http.Handler {
	sub, _ := fs.Sub(staticFS, "static") // cannot fail: the directory is embedded
	files := http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			s.renderError(w, r, http.StatusNotFound, "There is no such page in the console.")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
