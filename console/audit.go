package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// auditPageSize is how many events a page of the audit log shows.
const auditPageSize = 50

// eventView is what the pages show of an audit event.
type eventView struct {
	ID, Actor, Action, KeyID, ClientIP, UserAgent, RequestID string
	At                                                       time.Time
	Changes                                                  []changeView
}

type changeView struct{ Field, From, To string }

func viewEvent(ev *keyward.AuditEvent) eventView {
	v := eventView{
		ID: ev.ID.String(), Actor: ev.Actor, Action: string(ev.Action), KeyID: ev.KeyID.String(),
		ClientIP: ev.ClientIP, UserAgent: ev.UserAgent, RequestID: ev.RequestID, At: ev.At,
	}
	for _, c := range ev.Changes {
		v.Changes = append(v.Changes, changeView{Field: c.Field, From: string(orNull(c.From)), To: string(orNull(c.To))})
	}
	return v
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// auditPage is what the audit log shows.
type auditPage struct {
	Events  []eventView
	Action  string
	KeyID   string
	Actions []string
	Next    string
	Error   string
}

// handleAudit shows the organization's audit log, newest first, filtered
// by action and key.
func (s *server) handleAudit(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	p := auditPage{Action: q.Get("action"), KeyID: strings.TrimSpace(q.Get("key_id"))}
	for _, a := range keyward.AllAuditActions {
		p.Actions = append(p.Actions, string(a))
	}
	f := keyward.AuditFilter{Limit: auditPageSize}
	if p.Action != "" {
		a, err := keyward.ParseAuditAction(p.Action)
		if err != nil {
			p.Error, p.Action = "Unknown action: showing every action.", ""
		}
		f.Action = a
	}
	if p.KeyID != "" {
		id, err := keyward.ParseKeyID(p.KeyID)
		if err != nil {
			p.Error = "That is not a key id (key-123): showing every key."
			p.KeyID = ""
		}
		f.KeyID = id
	}
	if c := q.Get("cursor"); c != "" {
		cur, err := keyward.ParseEventCursor(c)
		if err != nil {
			p.Error = "That page link is not valid: showing the first page."
		}
		f.After = cur
	}
	page, err := s.svc.ListAuditEvents(r.Context(), sess.caller, sess.OrgID, f)
	if err != nil {
		s.serviceError(w, r, err)
		return
	}
	for _, ev := range page.Events {
		p.Events = append(p.Events, viewEvent(ev))
	}
	if page.Next != nil {
		p.Next = page.Next.Encode()
	}
	s.render(w, r, http.StatusOK, "audit.html", sess, "Audit log", p)
}
