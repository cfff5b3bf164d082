package console

// Sessions and CSRF.
//
// A session is a random 32-byte token, base64url in the cookie; the store
// keeps its SHA-256 (keyward.SessionStore), the key it signed in with, the
// organization it manages, a binding of the secret it signed in with, its
// CSRF token and its end. Sessions live in the database, not in memory, so
// that every instance behind a load balancer knows every session and a
// sign-out on one is a sign-out on all. Each request reads its session
// (one indexed read) and its key (keyward.Service.ConsoleCaller, one read
// by id): a key deleted, disabled, expired, stripped of manage or rotated
// (once the grace period ends) ends its sessions with their next request.
// A session lasts at most its lifetime (8 hours by default) from its
// sign-in, however active; there is no idle refresh, so that no request
// writes.
//
// The cookie is HttpOnly (no script reads it), SameSite=Strict (no other
// site's link or form sends it), Path=/console and, under TLS, Secure
// with the __Host- prefix (then Path=/, as the prefix requires), and lasts
// no longer than the session.
//
// CSRF: every form carries the session's synchronizer token, compared in
// constant time; every POST also passes net/http's CrossOriginProtection
// (Sec-Fetch-Site, or Origin against Host). The sign-in form, before any
// session exists, carries a token that a short-lived cookie of its own
// must match (double submit), so that no other site can sign a browser in
// with its own key.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Cookie names: with TLS, the __Host- prefix binds the cookie to this
// host, Secure and Path=/.
const (
	sessionCookie       = "keyward_session"
	signInCookie        = "keyward_sign_in"
	secureSessionCookie = "__Host-keyward_session"
	secureSignInCookie  = "__Host-keyward_sign_in"
)

// signInTokenLifetime bounds how long a sign-in form may be left open.
const signInTokenLifetime = time.Hour

// maxFormBytes bounds a form's body: metadata is at most 8 KiB.
const maxFormBytes = 64 << 10

// cookieName returns the name of the session or sign-in cookie.
func (s *server) cookieName(signIn bool) string {
	switch {
	case signIn && s.secure:
		return secureSignInCookie
	case signIn:
		return signInCookie
	case s.secure:
		return secureSessionCookie
	}
	return sessionCookie
}

// setCookie writes a cookie with the console's flags; a negative maxAge
// removes it.
func (s *server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
		MaxAge: int(maxAge / time.Second),
	}
	if s.secure {
		c.Path = "/" // the __Host- prefix requires it
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// newToken returns 32 random bytes, base64url: a session or sign-in token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionID returns the id of the session whose token is tok, or false
// for anything newToken could not have made.
func sessionID(tok string) (keyward.SessionID, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != 32 || len(tok) != 43 {
		return keyward.SessionID{}, false
	}
	return sha256.Sum256(b), true
}

// session is a signed-in request's session and the key it acts as, read
// afresh for the request.
type session struct {
	*keyward.Session
	caller *keyward.Key
}

// errNoSession: the request has no live session; sign in.
var errNoSession = errors.New("no session")

// errSessionEnded: the request's session has just ended (its lifetime,
// or its key's); sign in again.
var errSessionEnded = fmt.Errorf("session ended: %w", errNoSession)

// loadSession returns the request's session, checked against the clock and
// its key. A session that has ended is removed, with its cookie; a token
// that names no session counts as a failure in the throttle, as a refused
// credential does in the API, and reads as a session ended: a change that
// refused its key removed it (keyward.EndsSessions), or a sign-out in
// another tab, or the pruning of expired sessions.
func (s *server) loadSession(w http.ResponseWriter, r *http.Request) (*session, error) {
	c, err := r.Cookie(s.cookieName(false))
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	id, ok := sessionID(c.Value)
	if !ok {
		s.fail(r)
		s.setCookie(w, s.cookieName(false), "", -1)
		return nil, errNoSession
	}
	sess, err := s.sessions.Session(r.Context(), id)
	switch {
	case keyward.ErrorCode(err) == keyward.ENOTFOUND:
		s.fail(r)
		s.setCookie(w, s.cookieName(false), "", -1)
		return nil, errSessionEnded
	case err != nil:
		return nil, err
	}
	end := func() (*session, error) {
		_ = s.sessions.DeleteSession(r.Context(), id)
		s.setCookie(w, s.cookieName(false), "", -1)
		return nil, errSessionEnded
	}
	if !s.svc.Now().Before(sess.ExpiresAt) {
		return end()
	}
	k, err := s.svc.ConsoleCaller(r.Context(), sess.KeyID, sess.Binding)
	switch {
	case keyward.ErrorCode(err) == keyward.EUNAUTHORIZED:
		return end()
	case err != nil:
		return nil, err
	}
	return &session{Session: sess, caller: k}, nil
}

// fail counts a failure of the request's address in the throttle.
func (s *server) fail(r *http.Request) {
	if s.throttle != nil {
		s.throttle.Fail(r)
	}
}

// crossOrigin refuses a state-changing request that a browser says came
// from another site (Sec-Fetch-Site), or whose Origin is not this host.
var crossOrigin = http.NewCrossOriginProtection()

// sameToken compares a form's token with the expected one in constant
// time; an empty expected token matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// parseForm reads a POST's form, bounded, and checks that it came from a
// page of the console: its origin and the token it carries.
func (s *server) parseForm(w http.ResponseWriter, r *http.Request, want string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Reload the page and try again.")
		return false
	}
	if crossOrigin.Check(r) != nil || !sameToken(r.PostForm.Get("csrf"), want) {
		s.renderError(w, r, http.StatusForbidden, "This form has expired or was not sent from the console. Reload the page and try again.")
		return false
	}
	return true
}

// page is a handler for a signed-in request.
type page func(w http.ResponseWriter, r *http.Request, sess *session)

// signedIn serves h to requests with a live session that has picked an
// organization; it sends others to sign in, or a root key's session to
// pick an organization (unless anyOrg). A POST must also carry the
// session's CSRF token and come from the console. The request's context
// carries what the audit events of its changes record of its origin.
func (s *server) signedIn(h page, anyOrg bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.loadSession(w, r)
		switch {
		case errors.Is(err, errSessionEnded):
			http.Redirect(w, r, Prefix+"/sign-in?ended=session", http.StatusSeeOther)
			return
		case errors.Is(err, errNoSession):
			http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
			return
		case err != nil:
			s.serviceError(w, r, err)
			return
		}
		if r.Method == http.MethodPost && !s.parseForm(w, r, sess.CSRF) {
			return
		}
		if sess.OrgID == "" && !anyOrg {
			http.Redirect(w, r, Prefix+"/organization", http.StatusSeeOther)
			return
		}
		id, _ := r.Context().Value(requestIDKey{}).(string)
		ctx := keyward.WithRequestInfo(r.Context(), keyward.RequestInfo{RequestID: id, ClientIP: clientIP(r), UserAgent: r.UserAgent()})
		h(w, r.WithContext(ctx), sess)
	})
}

// clientIP is the address of the connection, as the API records it: no
// forwarding header is trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signInData is what the sign-in page shows.
type signInData struct {
	Token   string // the form's CSRF token, matched by the sign-in cookie
	Error   string
	Notice  string
	Retry   int // seconds to wait, when throttled
	NoForms bool
}

// handleSignInForm shows the sign-in form, with a fresh token in the
// form and in its cookie. A browser with a live session goes to its keys.
func (s *server) handleSignInForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess, err := s.loadSession(w, r); err == nil && sess != nil {
			http.Redirect(w, r, Prefix+"/keys", http.StatusSeeOther)
			return
		}
		d := signInData{}
		switch r.URL.Query().Get("ended") {
		case "signed-out":
			d.Notice = "You are signed out."
		case "session":
			d.Notice = "Your session has ended. Sign in again."
		}
		s.renderSignIn(w, r, http.StatusOK, d)
	})
}

// renderSignIn shows the sign-in page with a new form token.
func (s *server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData) {
	d.Token = newToken()
	s.setCookie(w, s.cookieName(true), d.Token, signInTokenLifetime)
	s.render(w, r, status, "signin.html", nil, "Sign in", d)
}

// handleSignIn signs a browser in with a key that may manage keys. The
// key is read from the form's body, checked and forgotten: it is in no
// URL, no log line and no cookie. A refused key counts as a failure in
// the throttle; a throttled address is refused before its key is read.
func (s *server) handleSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.throttle != nil {
			if wait := s.throttle.Wait(r); wait > 0 {
				secs := int((wait + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				s.renderSignIn(w, r, http.StatusTooManyRequests, signInData{
					Error: "Too many failed sign-ins from your address. Wait a little, then try again.", Retry: secs})
				return
			}
		}
		c, err := r.Cookie(s.cookieName(true))
		want := ""
		if err == nil {
			want = c.Value
		}
		if !s.parseForm(w, r, want) {
			return
		}
		presented := strings.TrimSpace(r.PostForm.Get("key"))
		if presented == "" {
			s.renderSignIn(w, r, http.StatusBadRequest, signInData{Error: "Enter an API key."})
			return
		}
		k, binding, err := s.svc.ConsoleSignIn(r.Context(), presented)
		switch keyward.ErrorCode(err) {
		case "":
		case keyward.EUNAUTHORIZED:
			s.fail(r)
			s.renderSignIn(w, r, http.StatusUnauthorized, signInData{Error: "That key is not valid: it is unknown, deleted, disabled or expired."})
			return
		case keyward.EFORBIDDEN:
			s.renderSignIn(w, r, http.StatusForbidden, signInData{Error: "That key cannot manage keys: the console needs a key with the manage permission, or a root key."})
			return
		default:
			s.serviceError(w, r, err)
			return
		}
		// A session this browser still had ends: one browser, one session.
		if c, err := r.Cookie(s.cookieName(false)); err == nil {
			if old, ok := sessionID(c.Value); ok {
				if err := s.sessions.DeleteSession(r.Context(), old); err != nil {
					s.serviceError(w, r, err)
					return
				}
			}
		}
		org := k.OrgID // "" for a root key: it picks one next
		now := s.svc.Now().UTC().Truncate(time.Microsecond)
		if err := s.startSession(w, r, k.ID, org, binding, now, now.Add(s.lifetime)); err != nil {
			s.serviceError(w, r, err)
			return
		}
		s.setCookie(w, s.cookieName(true), "", -1)
		next := Prefix + "/keys"
		if org == "" {
			next = Prefix + "/organization"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// startSession stores a new session, signed in at created and ending at
// expires, and sets its cookie. Expired sessions are pruned on the way, a
// few at a time.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, id keyward.KeyID, org keyward.OrgID, binding [32]byte, created, expires time.Time) error {
	tok := newToken()
	sid, _ := sessionID(tok)
	now := s.svc.Now().UTC().Truncate(time.Microsecond)
	sess := &keyward.Session{ID: sid, KeyID: id, OrgID: org, Binding: binding, CSRF: newToken(), CreatedAt: created, ExpiresAt: expires}
	if err := s.sessions.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	if _, err := s.sessions.PruneSessions(r.Context(), now, 100); err != nil {
		s.logger.Warn("could not prune expired console sessions", "err", err)
	}
	s.setCookie(w, s.cookieName(false), tok, expires.Sub(now))
	return nil
}

// handleSignOut ends the session, on every instance (it is removed from
// the database), and removes its cookie.
func (s *server) handleSignOut() http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if err := s.sessions.DeleteSession(r.Context(), sess.ID); err != nil {
			s.serviceError(w, r, err)
			return
		}
		s.setCookie(w, s.cookieName(false), "", -1)
		http.Redirect(w, r, Prefix+"/sign-in?ended=signed-out", http.StatusSeeOther)
	}, true)
}

// orgData is what the organization picker shows.
type orgData struct {
	Value, Error string
}

// handleOrgForm lets a root key's session pick the organization it
// manages.
func (s *server) handleOrgForm() http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if !sess.caller.Root {
			http.Redirect(w, r, Prefix+"/keys", http.StatusSeeOther)
			return
		}
		s.render(w, r, http.StatusOK, "org.html", sess, "Organization", orgData{Value: string(sess.OrgID)})
	}, true)
}

// handleOrgPick starts a new session in the organization picked (and
// ends the old one): a session's powers change only with its token.
func (s *server) handleOrgPick() http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if !sess.caller.Root {
			http.Redirect(w, r, Prefix+"/keys", http.StatusSeeOther)
			return
		}
		v := strings.TrimSpace(r.PostForm.Get("organization"))
		org, err := keyward.ParseOrgID(v)
		if err != nil {
			s.render(w, r, http.StatusBadRequest, "org.html", sess, "Organization", orgData{Value: v, Error: "Organization id " + err.Error() + "."})
			return
		}
		// The old token ends first, so that a failure leaves no session
		// with the powers the pick was to replace; the new one ends when
		// the old one would have: picking again extends nothing.
		if err := s.sessions.DeleteSession(r.Context(), sess.ID); err != nil {
			s.serviceError(w, r, err)
			return
		}
		if err := s.startSession(w, r, sess.KeyID, org, sess.Binding, sess.CreatedAt, sess.ExpiresAt); err != nil {
			s.serviceError(w, r, err)
			return
		}
		http.Redirect(w, r, Prefix+"/keys", http.StatusSeeOther)
	}, true)
}
