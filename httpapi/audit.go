package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// eventJSON is an audit event as the API shows it. It never holds a
// secret or a hash: the service writes none into an event.
type eventJSON struct {
	ID     string  `json:"id"`
	Time   string  `json:"time"`
	OrgID  *string `json:"organization_id"` // null for an event about a root key
	Actor  string  `json:"actor"`
	Action string  `json:"action"`
	KeyID  string  `json:"key_id"`
	// Where the request came from; null for a change made from the
	// command line, which has no request.
	RequestID *string `json:"request_id"`
	ClientIP  *string `json:"client_ip"`
	UserAgent *string `json:"user_agent"`
	// Changes is each field changed, {"field": {"from": ..., "to": ...}},
	// as keyward.MarshalChanges writes it; {} when the action lists none.
	Changes json.RawMessage `json:"changes"`
}

// orNil is nil for "", a pointer to s otherwise.
func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toEventJSON(ev *keyward.AuditEvent) eventJSON {
	changes := emptyObject
	if c := keyward.MarshalChanges(ev.Changes); c != "" {
		changes = json.RawMessage(c)
	}
	return eventJSON{
		ID:        ev.ID.String(),
		Time:      ev.At.UTC().Format(time.RFC3339Nano),
		OrgID:     orNil(string(ev.OrgID)),
		Actor:     ev.Actor,
		Action:    string(ev.Action),
		KeyID:     ev.KeyID.String(),
		RequestID: orNil(ev.RequestID),
		ClientIP:  orNil(ev.ClientIP),
		UserAgent: orNil(ev.UserAgent),
		Changes:   changes,
	}
}

// handleAuditList serves the audit log: a page of the events of an
// organization, newest first, filtered by key, action and time, paginated
// as key lists are. There is no route that changes or deletes an event.
func handleAuditList(svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var f keyward.AuditFilter
		var bad []keyward.FieldError
		f.Limit, bad = parseLimit(q, bad)
		if q.Has("cursor") {
			c, err := keyward.ParseEventCursor(q.Get("cursor"))
			if err != nil {
				bad = append(bad, keyward.ErrorFields(err)...)
			}
			f.After = c
		}
		if q.Has("key_id") {
			id, err := keyward.ParseKeyID(q.Get("key_id"))
			if err != nil {
				bad = append(bad, keyward.FieldError{Field: "key_id", Reason: `must be a key id, such as "key-456"`})
			}
			f.KeyID = id
		}
		if q.Has("action") {
			a, err := keyward.ParseAuditAction(q.Get("action"))
			if err != nil {
				bad = append(bad, keyward.FieldError{Field: "action", Reason: err.Error()})
			}
			f.Action = a
		}
		for _, bound := range []struct {
			name string
			dst  **time.Time
		}{{"since", &f.Since}, {"until", &f.Until}} {
			if !q.Has(bound.name) {
				continue
			}
			t, err := parseTime(q.Get(bound.name))
			if err != nil {
				bad = append(bad, keyward.FieldError{Field: bound.name, Reason: err.Error()})
				continue
			}
			*bound.dst = &t
		}
		if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
			bad = append(bad, keyward.FieldError{Field: "until", Reason: "must be after since"})
		}
		if len(bad) > 0 {
			writeError(w, r, keyward.Invalid("invalid query", bad...))
			return
		}
		org, err := resolve(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		page, err := svc.ListAuditEvents(r.Context(), caller(r.Context()), org, f)
		if err != nil {
			writeError(w, r, err)
			return
		}
		out := make([]eventJSON, len(page.Events))
		for i, ev := range page.Events {
			out[i] = toEventJSON(ev)
		}
		if page.Next != nil {
			setNextLink(w, r, f.Limit, page.Next.Encode())
		}
		encode(w, r, http.StatusOK, out)
	})
}
