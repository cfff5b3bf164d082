package keyward

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditAction names what an audit event records.
type AuditAction string

// Audit actions: one per management action on a key.
const (
	ActionCreate  AuditAction = "create"
	ActionUpdate  AuditAction = "update"
	ActionRotate  AuditAction = "rotate"
	ActionDisable AuditAction = "disable"
	ActionEnable  AuditAction = "enable"
	ActionDelete  AuditAction = "delete"
	ActionRestore AuditAction = "restore"
)

// AllAuditActions lists every action, for validation and documentation.
var AllAuditActions = []AuditAction{ActionCreate, ActionUpdate, ActionRotate, ActionDisable, ActionEnable, ActionDelete, ActionRestore}

// ParseAuditAction validates an action name.
func ParseAuditAction(s string) (AuditAction, error) {
	for _, a := range AllAuditActions {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(AllAuditActions))
	for i, a := range AllAuditActions {
		names[i] = string(a)
	}
	return "", fmt.Errorf("must be one of: %s", strings.Join(names, ", "))
}

// ActorCLI is the actor of a change made from the command line, which has
// the database in hand and no key.
const ActorCLI = "cli"

// EventID identifies an audit event: like a key id, a random positive
// integer below 2^53, written "evt-123".
type EventID int64

const eventIDPrefix = "evt-"

// NewEventID draws a random event id.
func NewEventID() EventID { return EventID(NewKeyID()) }

// String returns the id as the API writes it.
func (id EventID) String() string { return eventIDPrefix + strconv.FormatInt(int64(id), 10) }

// AuditEvent records one management action, written in the transaction
// of the change it records. It never holds a secret or a secret's hash.
type AuditEvent struct {
	ID     EventID
	At     time.Time
	OrgID  OrgID // empty for an event about a root key
	Actor  string
	Action AuditAction
	KeyID  KeyID
	// Where the request came from: its id (the X-Request-Id answered),
	// the client's address and its User-Agent; empty from the command
	// line.
	RequestID, ClientIP, UserAgent string
	// Changes lists, for an update, each field that changed.
	Changes []Change
}

// Change is one field's value before and after a change, each as JSON
// (null for none).
type Change struct {
	Field    string
	From, To json.RawMessage
}

// MarshalChanges encodes changes as the object the API shows and stores
// keep: {"name": {"from": "a", "to": "b"}, ...}, in order.
func MarshalChanges(changes []Change) string {
	if len(changes) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range changes {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(c.Field)
		b.Write(name)
		b.WriteString(`:{"from":`)
		b.Write(orNull(c.From))
		b.WriteString(`,"to":`)
		b.Write(orNull(c.To))
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.String()
}

// UnmarshalChanges decodes what MarshalChanges made, in order.
func UnmarshalChanges(s string) ([]Change, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("changes: not an object")
	}
	var out []Change
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("changes: %w", err)
		}
		name, _ := t.(string)
		var v struct{ From, To json.RawMessage }
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("changes: %w", err)
		}
		out = append(out, Change{Field: name, From: v.From, To: v.To})
	}
	return out, nil
}

func orNull(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// AuditFilter selects a page of one organization's audit events.
type AuditFilter struct {
	OrgID  OrgID // "" for the events about root keys
	KeyID  KeyID // 0 for every key
	Action AuditAction
	// Since and Until, if set, bound the events' times: Since inclusive,
	// Until exclusive.
	Since, Until *time.Time
	After        *EventCursor
	Limit        int
}

// EventCursor is a position in a newest-first listing of events.
type EventCursor struct {
	At time.Time
	ID EventID
}

// Encode returns the cursor as an opaque token, of another version than
// a key's Cursor so that neither is taken for the other.
func (c *EventCursor) Encode() string { return encodeCursor(2, c.At, int64(c.ID)) }

// ParseEventCursor decodes a token made by EventCursor.Encode.
func ParseEventCursor(s string) (*EventCursor, error) {
	at, id, err := parseCursor(2, s)
	if err != nil {
		return nil, err
	}
	return &EventCursor{At: at, ID: EventID(id)}, nil
}

// MaxUserAgentLen bounds the User-Agent an audit event keeps.
const MaxUserAgentLen = 256

// RequestInfo is what the API knows of a request's origin, for the audit
// events its changes write.
type RequestInfo struct {
	RequestID, ClientIP, UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info, for the audit events of the
// changes made under it.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// requestInfo returns the RequestInfo ctx carries, cleaned for an audit
// event: valid UTF-8, bounded, and nothing shaped like a secret (a client
// may send its key in any header).
func requestInfo(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	clean := func(s string, max int) string {
		s = strings.ToValidUTF8(s, "\uFFFD")
		s = secretInText.ReplaceAllString(s, "[redacted]")
		if len(s) > max {
			s = s[:max]
			for !utf8.ValidString(s) {
				s = s[:len(s)-1]
			}
		}
		return s
	}
	return RequestInfo{
		RequestID: clean(info.RequestID, 128),
		ClientIP:  clean(info.ClientIP, 64),
		UserAgent: clean(info.UserAgent, MaxUserAgentLen),
	}
}

// DefaultAuditRetention is how long audit events are kept by default.
const DefaultAuditRetention = 365 * 24 * time.Hour

// encodeCursor and parseCursor are the token format of listings: a
// version byte, unix microseconds and an id.
func encodeCursor(version byte, at time.Time, id int64) string {
	var b [17]byte
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(at.UnixMicro()))
	binary.BigEndian.PutUint64(b[9:], uint64(id))
	return cursorEncoding.EncodeToString(b[:])
}
