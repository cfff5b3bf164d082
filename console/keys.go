package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// listPageSize is how many keys a page of the list shows.
const listPageSize = 25

// keyView is what the pages show of a key.
type keyView struct {
	ID, Name, Hint, State, CreatedBy string
	Permissions                      []string
	CreatedAt, UpdatedAt             time.Time
	LastUsedAt, ExpiresAt, DeletedAt *time.Time
	PreviousUntil                    *time.Time
	Version                          int64
	Metadata                         string // indented JSON, "" for none
	RateLimits                       []limitView
	Credits                          *creditsView
	Enabled                          bool
}

type limitView struct {
	Name  string
	Limit int64
	Per   string
}

type creditsView struct {
	Remaining int64
	Refill    string // "1000 daily", "" for none
}

// viewKey turns a key into what the pages show, its state at now.
func viewKey(k *keyward.Key, now time.Time) keyView {
	v := keyView{
		ID: k.ID.String(), Name: k.Name, Hint: k.Hint, State: string(k.State(now)), CreatedBy: k.CreatedBy,
		CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt,
		DeletedAt: k.DeletedAt, Version: k.Version, Enabled: !k.Disabled,
	}
	for _, p := range k.Permissions {
		v.Permissions = append(v.Permissions, string(p))
	}
	if k.Previous != nil && now.Before(k.Previous.ExpiresAt) {
		t := k.Previous.ExpiresAt
		v.PreviousUntil = &t
	}
	if k.Metadata != "" {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(k.Metadata), "", "  ") == nil {
			v.Metadata = buf.String()
		}
	}
	for _, l := range k.RateLimits {
		v.RateLimits = append(v.RateLimits, limitView{Name: l.Name, Limit: l.Limit, Per: keyward.FormatLimitDuration(l.Duration)})
	}
	if k.Credits != nil {
		c := k.Credits.Current(now)
		v.Credits = &creditsView{Remaining: c.Remaining}
		if c.Refill != nil {
			v.Credits.Refill = fmt.Sprintf("%d %s", c.Refill.Amount, c.Refill.Interval)
		}
	}
	return v
}

// keyID reads the key id of the request's path; false (and a 404 page
// written) if it is none.
func (s *server) keyID(w http.ResponseWriter, r *http.Request) (keyward.KeyID, bool) {
	id, err := keyward.ParseKeyID(r.PathValue("key_id"))
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, "There is no such key in this organization.")
		return 0, false
	}
	return id, true
}

// key reads the key the request's path names, as the session's caller
// sees it; otherwise it answers the request (404, or the service's error)
// and returns false.
func (s *server) key(w http.ResponseWriter, r *http.Request, sess *session) (*keyward.Key, bool) {
	id, ok := s.keyID(w, r)
	if !ok {
		return nil, false
	}
	k, err := s.svc.Key(r.Context(), sess.caller, sess.OrgID, id)
	if err != nil {
		s.serviceError(w, r, err)
		return nil, false
	}
	return k, true
}

// listPage is what the list of keys shows.
type listPage struct {
	Keys   []keyView
	Query  string // the name searched for
	State  string
	States []string
	Next   string // the next page's cursor, "" on the last
	Done   string // a notice of what was just done
	Error  string
}

// doneNotices are the notices a redirect after a change may ask for, by
// name: the URL carries the name, never the text, so it shows only these.
var doneNotices = map[string]string{
	"deleted":  "The key was deleted. It stops working at once, everywhere; you can restore it below within the retention period.",
	"restored": "The key was restored, with its secret and settings.",
	"disabled": "The key was disabled: it verifies as DISABLED until enabled again.",
	"enabled":  "The key was enabled.",
	"updated":  "The key was saved.",
}

// handleKeyList shows the organization's keys, newest first, a page at a
// time, filtered by state and searched by name.
func (s *server) handleKeyList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	p := listPage{Query: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Done: doneNotices[q.Get("done")],
		States: []string{"active", "disabled", "expired", "deleted", "all"}}
	if p.State == "" {
		p.State = "active"
	}
	state, err := keyward.ParseListState(p.State)
	if err != nil {
		p.Error, p.State = "Unknown state: showing the active keys.", "active"
		state = keyward.ListState(keyward.StateActive)
	}
	var after *keyward.Cursor
	if c := q.Get("cursor"); c != "" {
		if after, err = keyward.ParseCursor(c); err != nil {
			after, p.Error = nil, "That page link is not valid: showing the first page."
		}
	}
	page, err := s.svc.SearchKeys(r.Context(), sess.caller, sess.OrgID, keyward.KeySearch{State: state, Name: p.Query, After: after, Limit: listPageSize})
	if err != nil {
		s.serviceError(w, r, err)
		return
	}
	for _, k := range page.Keys {
		p.Keys = append(p.Keys, viewKey(k, page.Now))
	}
	if page.Next != nil {
		p.Next = page.Next.Encode()
	}
	s.render(w, r, http.StatusOK, "keys.html", sess, "Keys", p)
}

// detailPage is what a key's page shows.
type detailPage struct {
	Key    keyView
	Events []eventView
	More   bool // the key has older events than those shown
	Chart  *chart
	Done   string
}

// keyEvents is how many of its audit events a key's page shows.
const keyEvents = 20

// handleKeyDetail shows one key: its settings, its last use, its audit
// trail and its verifications per hour over the last 7 days.
func (s *server) handleKeyDetail(w http.ResponseWriter, r *http.Request, sess *session) {
	k, ok := s.key(w, r, sess)
	if !ok {
		return
	}
	id := k.ID
	now := s.svc.Now()
	p := detailPage{Key: viewKey(k, now), Done: doneNotices[r.URL.Query().Get("done")]}
	evs, err := s.svc.ListAuditEvents(r.Context(), sess.caller, sess.OrgID, keyward.AuditFilter{KeyID: id, Limit: keyEvents})
	if err != nil {
		s.serviceError(w, r, err)
		return
	}
	for _, ev := range evs.Events {
		p.Events = append(p.Events, viewEvent(ev))
	}
	p.More = evs.Next != nil
	p.Chart = s.weekChart(r, sess, id, now)
	s.render(w, r, http.StatusOK, "key.html", sess, k.Name, p)
}

// keyForm is the create and edit form: what was typed, and what is wrong
// with it.
type keyForm struct {
	Name        string
	Permissions []string
	ExpiresAt   string // datetime-local, UTC
	Metadata    string
	RateLimits  string // one limit a line: name limit duration
	Credits     string
	RefillAmt   string
	RefillEvery string // "", daily or monthly
	// The credits fields as the edit form showed them: verifications
	// spend credits without changing the key's version, so the edit saves
	// credits only when what was typed differs from what was shown.
	CreditsShown, RefillAmtShown, RefillEveryShown string
	Version                                        int64
	// Attempt names one showing of the create form: a form sent twice
	// (a reload of the page that answered it) creates one key.
	Attempt string
	Errors  map[string]string
	Error   string
	KeyID   string
}

// formOf fills the edit form from a key.
func formOf(k *keyward.Key, now time.Time) keyForm {
	f := keyForm{Name: k.Name, Version: k.Version, KeyID: k.ID.String()}
	for _, p := range k.Permissions {
		f.Permissions = append(f.Permissions, string(p))
	}
	if k.ExpiresAt != nil {
		f.ExpiresAt = k.ExpiresAt.UTC().Format("2006-01-02T15:04")
	}
	if k.Metadata != "" {
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(k.Metadata), "", "  ") == nil {
			f.Metadata = buf.String()
		}
	}
	var lines []string
	for _, l := range k.RateLimits {
		lines = append(lines, fmt.Sprintf("%s %d %s", l.Name, l.Limit, keyward.FormatLimitDuration(l.Duration)))
	}
	f.RateLimits = strings.Join(lines, "\n")
	if k.Credits != nil {
		c := k.Credits.Current(now)
		f.Credits = strconv.FormatInt(c.Remaining, 10)
		if c.Refill != nil {
			f.RefillAmt, f.RefillEvery = strconv.FormatInt(c.Refill.Amount, 10), string(c.Refill.Interval)
		}
	}
	f.CreditsShown, f.RefillAmtShown, f.RefillEveryShown = f.Credits, f.RefillAmt, f.RefillEvery
	return f
}

// readForm reads the create or edit form from a parsed request.
func readForm(r *http.Request) keyForm {
	f := r.PostForm
	return keyForm{
		Name: f.Get("name"), Permissions: f["permissions"], ExpiresAt: strings.TrimSpace(f.Get("expires_at")),
		Metadata: strings.TrimSpace(f.Get("metadata")), RateLimits: strings.TrimSpace(f.Get("rate_limits")),
		Credits: strings.TrimSpace(f.Get("credits")), RefillAmt: strings.TrimSpace(f.Get("refill_amount")),
		RefillEvery:  f.Get("refill_interval"),
		CreditsShown: strings.TrimSpace(f.Get("credits_shown")), RefillAmtShown: strings.TrimSpace(f.Get("refill_amount_shown")),
		RefillEveryShown: f.Get("refill_interval_shown"), Attempt: f.Get("attempt"), Errors: map[string]string{},
	}
}

// parsed is a form read into the domain's types.
type parsed struct {
	perms   []keyward.Permission
	expires *time.Time
	limits  []keyward.RateLimit
	credits *keyward.Credits
}

// parse checks what the form's fields hold as types (a time, numbers,
// lines of limits); what values the service accepts is the service's to
// say. It fills f.Errors by field.
func (f *keyForm) parse() parsed {
	var p parsed
	for _, name := range f.Permissions {
		p.perms = append(p.perms, keyward.Permission(name))
	}
	if f.ExpiresAt != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", f.ExpiresAt, time.UTC)
		if err != nil {
			f.Errors["expires_at"] = "Give a date and time, such as 2030-01-31T12:00 (UTC)."
		} else {
			p.expires = &t
		}
	}
	for i, line := range strings.Split(f.RateLimits, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			f.Errors["rate_limits"] = fmt.Sprintf("Line %d: write a name, a limit and a duration, such as \"requests 100 60s\".", i+1)
			break
		}
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			f.Errors["rate_limits"] = fmt.Sprintf("Line %d: the limit must be a whole number.", i+1)
			break
		}
		d, err := keyward.ParseLimitDuration(parts[2])
		if err != nil {
			f.Errors["rate_limits"] = fmt.Sprintf("Line %d: the duration %s.", i+1, err)
			break
		}
		p.limits = append(p.limits, keyward.RateLimit{Name: parts[0], Limit: n, Duration: d})
	}
	if f.Credits != "" {
		n, err := strconv.ParseInt(f.Credits, 10, 64)
		if err != nil {
			f.Errors["credits"] = "Credits must be a whole number."
		} else {
			p.credits = &keyward.Credits{Remaining: n}
		}
	}
	if f.RefillEvery != "" || f.RefillAmt != "" {
		n, err := strconv.ParseInt(f.RefillAmt, 10, 64)
		switch {
		case p.credits == nil && f.Errors["credits"] == "":
			f.Errors["credits"] = "A refill needs credits to refill."
		case err != nil || f.RefillEvery == "":
			f.Errors["credits"] = "A refill needs an amount (a whole number) and an interval."
		case p.credits != nil:
			p.credits.Refill = &keyward.Refill{Amount: n, Interval: keyward.RefillInterval(f.RefillEvery)}
		}
	}
	if f.Metadata != "" && !json.Valid([]byte(f.Metadata)) {
		f.Errors["metadata"] = "Metadata must be a JSON object, such as {\"plan\": \"pro\"}."
	}
	return p
}

// fieldErrors puts a service's EINVALID field errors on the form; false if
// err is of another kind.
func (f *keyForm) fieldErrors(err error) bool {
	if keyward.ErrorCode(err) != keyward.EINVALID && keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		return false
	}
	fields := keyward.ErrorFields(err)
	if len(fields) == 0 {
		f.Error = keyward.ErrorMessage(err) + "."
		return true
	}
	for _, fe := range fields {
		field := fe.Field
		if _, known := formFields[field]; !known {
			field = ""
		}
		msg := capitalize(formFields[fe.Field]) + " " + fe.Reason + "."
		if field == "" {
			f.Error = strings.TrimSpace(msg)
			continue
		}
		f.Errors[field] = msg
	}
	return true
}

// formFields names the fields of the form as the service names them.
var formFields = map[string]string{
	"name": "the name", "permissions": "permissions", "expires_at": "the expiry", "metadata": "metadata",
	"rate_limits": "rate limits", "credits": "credits",
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// handleKeyNew shows the create form.
func (s *server) handleKeyNew(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "new.html", sess, "New key", keyForm{Permissions: []string{"read"}, Attempt: newToken(), Errors: map[string]string{}})
}

// secretPage shows a secret once: after a create or a rotation.
type secretPage struct {
	Key      keyView
	Secret   string
	Rotated  bool
	OldUntil *time.Time
}

// handleKeyCreate creates a key and shows its secret, this once, in the
// answer to the POST itself (no-store): the secret is never in a URL, and
// no later page can show it. Bad input shows the form again, with what is
// wrong, and creates nothing.
func (s *server) handleKeyCreate(w http.ResponseWriter, r *http.Request, sess *session) {
	f := readForm(r)
	p := f.parse()
	if len(f.Errors) > 0 {
		s.render(w, r, http.StatusBadRequest, "new.html", sess, "New key", f)
		return
	}
	in := keyward.NewKey{Name: f.Name, Permissions: p.perms, ExpiresAt: p.expires, Metadata: f.Metadata, RateLimits: p.limits, Credits: p.credits}
	if len(in.Permissions) == 0 {
		f.Errors["permissions"] = "Choose at least one permission."
		s.render(w, r, http.StatusBadRequest, "new.html", sess, "New key", f)
		return
	}
	in.Retry = createAttempt(r.PostForm)
	k, secret, err := s.svc.CreateKey(r.Context(), sess.caller, sess.OrgID, in)
	if err != nil {
		if f.fieldErrors(err) {
			s.render(w, r, http.StatusBadRequest, "new.html", sess, "New key", f)
			return
		}
		if keyward.ErrorCode(err) == keyward.EUNPROCESSABLE && in.Retry != nil {
			f.Attempt = newToken()
			f.Error = "This form already created a key, with other values. Check the keys list; to create another key, send the form again."
			s.render(w, r, http.StatusConflict, "new.html", sess, "New key", f)
			return
		}
		s.serviceError(w, r, err)
		return
	}
	s.render(w, r, http.StatusCreated, "secret.html", sess, "Key created", secretPage{Key: viewKey(k, s.svc.Now()), Secret: secret.Reveal()})
}

// createAttempt makes a create idempotent over one showing of the form
// (its attempt field, a random token): sent again with the same values, as
// a reload of the answer sends it, the form answers with the key it made
// the first time (and its secret, as the API's Idempotency-Key replays a
// create), instead of making another. The same attempt with other values
// is refused (EUNPROCESSABLE). A form without an attempt is not
// idempotent.
func createAttempt(form url.Values) *keyward.Retry {
	key, err := keyward.ParseIdempotencyKey("console-create-" + form.Get("attempt"))
	if form.Get("attempt") == "" || err != nil {
		return nil
	}
	values := url.Values{}
	for name, v := range form {
		if name != "csrf" && name != "attempt" {
			values[name] = v
		}
	}
	retry := &keyward.Retry{Key: key}
	retry.Request = sha256.Sum256([]byte("console create\n" + values.Encode()))
	return retry
}

// handleKeyEditForm shows the edit form of a key.
func (s *server) handleKeyEditForm(w http.ResponseWriter, r *http.Request, sess *session) {
	k, ok := s.key(w, r, sess)
	if !ok {
		return
	}
	f := formOf(k, s.svc.Now())
	f.Errors = map[string]string{}
	s.render(w, r, http.StatusOK, "edit.html", sess, "Edit "+k.Name, f)
}

// handleKeyEdit saves the edit form, as one update of the fields that
// changed, on the condition that the key is still at the version the
// form was made from (If-Match): a change made meanwhile by someone else
// is not overwritten. Bad input shows the form again and changes nothing.
func (s *server) handleKeyEdit(w http.ResponseWriter, r *http.Request, sess *session) {
	k, ok := s.key(w, r, sess)
	if !ok {
		return
	}
	id := k.ID
	f := readForm(r)
	f.KeyID = k.ID.String()
	f.Version, _ = strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	p := f.parse()
	if len(p.perms) == 0 {
		f.Errors["permissions"] = "Choose at least one permission."
	}
	render := func(status int) { s.render(w, r, status, "edit.html", sess, "Edit "+k.Name, f) }
	if len(f.Errors) > 0 {
		render(http.StatusBadRequest)
		return
	}
	now := s.svc.Now()
	patch := keyward.KeyPatch{If: &keyward.Condition{Versions: []int64{f.Version}}}
	if f.Name != k.Name {
		patch.Name = &f.Name
	}
	if !slices.Equal(p.perms, k.Permissions) {
		patch.Permissions = p.perms
	}
	if !sameTime(p.expires, k.ExpiresAt) {
		patch.ExpiresAt = &keyward.Expiry{At: p.expires}
	}
	if md, err := metadataPatch(k.Metadata, f.Metadata); err != nil {
		f.Errors["metadata"] = "Metadata must be a JSON object, such as {\"plan\": \"pro\"}."
		render(http.StatusBadRequest)
		return
	} else if md != nil {
		patch.Metadata = md
	}
	if !slices.Equal(p.limits, k.RateLimits) {
		patch.RateLimits = &p.limits
	}
	creditsTyped := f.Credits != f.CreditsShown || f.RefillAmt != f.RefillAmtShown || f.RefillEvery != f.RefillEveryShown
	if c := creditsPatch(k.Credits, p.credits, now); c != nil && creditsTyped {
		patch.Credits = c
	}
	if _, err := s.svc.UpdateKey(r.Context(), sess.caller, sess.OrgID, id, patch); err != nil {
		if f.fieldErrors(err) {
			render(http.StatusBadRequest)
			return
		}
		if keyward.ErrorCode(err) == keyward.EPRECONDITION {
			f.Error = "Someone changed this key since you opened the form. Nothing was saved: open the key again, check, and repeat your change."
			render(http.StatusPreconditionFailed)
			return
		}
		s.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"/keys/"+id.String()+"?done=updated", http.StatusSeeOther)
}

// sameTime reports whether two optional times are the same instant (to
// the minute a form can give).
func sameTime(a, b *time.Time) bool {
	switch {
	case a == nil || b == nil:
		return a == nil && b == nil
	}
	return a.Equal(b.UTC().Truncate(time.Minute)) || a.Equal(*b)
}

// metadataPatch returns the merge patch (RFC 7396) that turns the stored
// metadata into typed, or nil if they mean the same. A member removed is
// null in the patch; an object is patched member by member.
func metadataPatch(stored, typed string) (json.RawMessage, error) {
	if typed == "" {
		typed = "{}"
	}
	canon, err := keyward.ParseMetadata([]byte(typed))
	if err != nil {
		// The service names what is wrong: send it the object as typed.
		if json.Valid([]byte(typed)) && strings.HasPrefix(strings.TrimSpace(typed), "{") {
			return json.RawMessage(typed), nil
		}
		return nil, err
	}
	if canon == stored {
		return nil, nil
	}
	if canon == "" {
		return json.RawMessage("null"), nil
	}
	var from, to map[string]any
	if stored != "" {
		if err := decodeNumbers(stored, &from); err != nil {
			return nil, err
		}
	}
	if err := decodeNumbers(canon, &to); err != nil {
		return nil, err
	}
	b, err := json.Marshal(diffObjects(from, to))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func decodeNumbers(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec.Decode(v)
}

// diffObjects is the merge patch from one object to another.
func diffObjects(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for name := range from {
		if _, ok := to[name]; !ok {
			patch[name] = nil
		}
	}
	for name, v := range to {
		old, had := from[name]
		vo, vIsObj := v.(map[string]any)
		oo, oIsObj := old.(map[string]any)
		switch {
		case had && vIsObj && oIsObj:
			if d := diffObjects(oo, vo); len(d) > 0 {
				patch[name] = d
			}
		case had && jsonEqual(old, v):
		case vIsObj && had:
			// An object replacing something else: clear it first is not
			// possible in one patch, but an object member merged onto a
			// non-object replaces it (RFC 7396).
			patch[name] = v
		default:
			patch[name] = v
		}
	}
	return patch
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// creditsPatch returns the credits patch that sets the form's credits, or
// nil if they are those the key has.
func creditsPatch(cur, typed *keyward.Credits, now time.Time) json.RawMessage {
	if cur == nil && typed == nil {
		return nil
	}
	if typed == nil {
		return json.RawMessage("null")
	}
	if cur != nil {
		c := cur.Current(now)
		sameRefill := (c.Refill == nil && typed.Refill == nil) ||
			(c.Refill != nil && typed.Refill != nil && *c.Refill == *typed.Refill)
		if c.Remaining == typed.Remaining && sameRefill {
			return nil
		}
	}
	type refill struct {
		Amount   int64  `json:"amount"`
		Interval string `json:"interval"`
	}
	p := struct {
		Remaining int64   `json:"remaining"`
		Refill    *refill `json:"refill"`
	}{Remaining: typed.Remaining}
	if typed.Refill != nil {
		p.Refill = &refill{Amount: typed.Refill.Amount, Interval: string(typed.Refill.Interval)}
	}
	b, _ := json.Marshal(p) // cannot fail
	return b
}

// rotatePage is the rotation form.
type rotatePage struct {
	Key   keyView
	Grace string
	Error string
}

// handleKeyRotateForm asks how long the old secret should keep working.
func (s *server) handleKeyRotateForm(w http.ResponseWriter, r *http.Request, sess *session) {
	k, ok := s.key(w, r, sess)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "rotate.html", sess, "Rotate "+k.Name, rotatePage{Key: viewKey(k, s.svc.Now()), Grace: "24h"})
}

// handleKeyRotate gives the key a new secret, shown this once in the
// answer to the POST (no-store), as at create.
func (s *server) handleKeyRotate(w http.ResponseWriter, r *http.Request, sess *session) {
	k, ok := s.key(w, r, sess)
	if !ok {
		return
	}
	id := k.ID
	grace := strings.TrimSpace(r.PostForm.Get("grace_period"))
	var d time.Duration
	var err error
	if grace != "" {
		if d, err = keyward.ParseGracePeriod(grace); err != nil {
			s.render(w, r, http.StatusBadRequest, "rotate.html", sess, "Rotate "+k.Name,
				rotatePage{Key: viewKey(k, s.svc.Now()), Grace: grace, Error: "The grace period " + err.Error() + "."})
			return
		}
	}
	cond := versionCondition(r)
	k, secret, err := s.svc.RotateKey(r.Context(), sess.caller, sess.OrgID, id, d, cond)
	if err != nil {
		s.serviceError(w, r, err)
		return
	}
	p := secretPage{Key: viewKey(k, s.svc.Now()), Secret: secret.Reveal(), Rotated: true}
	if k.Previous != nil {
		t := k.Previous.ExpiresAt
		p.OldUntil = &t
	}
	s.render(w, r, http.StatusOK, "secret.html", sess, "Key rotated", p)
}

// versionCondition is the form's version as a write's condition: the
// change is made only if the key is still as the page showed it.
func versionCondition(r *http.Request) *keyward.Condition {
	v, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || v < 1 {
		return nil
	}
	return &keyward.Condition{Versions: []int64{v}}
}

// keyAction is one of the buttons on a key: disable, enable, delete,
// restore.
type keyAction string

const (
	actionDisable keyAction = "disabled"
	actionEnable  keyAction = "enabled"
	actionDelete  keyAction = "deleted"
	actionRestore keyAction = "restored"
)

// handleKeyAction makes one of the actions on a key, as the API's routes
// do, through the same service methods, and goes back to the key (or,
// for a delete, to the deleted keys, where it can be restored).
func (s *server) handleKeyAction(a keyAction) page {
	return func(w http.ResponseWriter, r *http.Request, sess *session) {
		id, ok := s.keyID(w, r)
		if !ok {
			return
		}
		cond := versionCondition(r)
		var err error
		switch a {
		case actionDisable, actionEnable:
			enabled := a == actionEnable
			_, err = s.svc.UpdateKey(r.Context(), sess.caller, sess.OrgID, id, keyward.KeyPatch{Enabled: &enabled, If: cond})
		case actionDelete:
			err = s.svc.DeleteKey(r.Context(), sess.caller, sess.OrgID, id, cond)
		case actionRestore:
			_, err = s.svc.RestoreKey(r.Context(), sess.caller, sess.OrgID, id, cond)
		default:
			err = errors.New("unknown action")
		}
		if err != nil {
			s.serviceError(w, r, err)
			return
		}
		next := Prefix + "/keys/" + id.String() + "?done=" + string(a)
		if a == actionDelete {
			next = Prefix + "/keys?state=deleted&done=deleted"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}
