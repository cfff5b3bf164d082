package keyward_test

import (
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// cursorToken builds a cursor token by hand, in the wire format Encode
// documents by example: version byte, CreatedAt in Unix microseconds, id,
// big-endian, unpadded URL-safe base64. Tokens already handed to clients
// must keep parsing, so the format is pinned here.
func cursorToken(t *testing.T, version byte, micros int64, id uint64) string {
	t.Helper()
	var b [17]byte
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(micros))
	binary.BigEndian.PutUint64(b[9:], id)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestCursorRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	now := time.Now()
	tests := []struct {
		name string
		at   time.Time
		id   keyward.KeyID
		want time.Time // CreatedAt after the round trip
	}{
		{"now", now, 456, now.Truncate(time.Microsecond).UTC()},
		{"microseconds kept", time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC), 1,
			time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC)},
		{"nanoseconds dropped", time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC), 1,
			time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC)},
		{"other zone becomes UTC", time.Date(2025, 3, 1, 13, 0, 0, 5000, paris), 2,
			time.Date(2025, 3, 1, 12, 0, 0, 5000, time.UTC)},
		{"epoch", time.Unix(0, 0), 3, time.Unix(0, 0).UTC()},
		{"before the epoch", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), 4,
			time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"zero time", time.Time{}, 5, time.Time{}},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 6,
			time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"largest id", now, keyward.MaxKeyID - 1, now.Truncate(time.Microsecond).UTC()},
		{"random id", now, keyward.NewKeyID(), now.Truncate(time.Microsecond).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := (&keyward.Cursor{CreatedAt: tt.at, ID: tt.id}).Encode()
			if !urlSafe.MatchString(token) || url.QueryEscape(token) != token || url.PathEscape(token) != token {
				t.Fatalf("Encode() = %q is not URL-safe", token)
			}
			if want := cursorToken(t, 1, tt.at.UnixMicro(), uint64(tt.id)); token != want {
				t.Fatalf("Encode() = %q, want %q", token, want)
			}
			c, err := keyward.ParseCursor(token)
			if err != nil {
				t.Fatalf("ParseCursor(%q) = %v", token, err)
			}
			if c.ID != tt.id {
				t.Errorf("ID = %d, want %d", c.ID, tt.id)
			}
			if !c.CreatedAt.Equal(tt.want) {
				t.Errorf("CreatedAt = %v, want %v", c.CreatedAt, tt.want)
			}
			if c.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt is in %v, want UTC", c.CreatedAt.Location())
			}
			if again := c.Encode(); again != token {
				t.Errorf("re-encoded %q, want %q", again, token)
			}
		})
	}
}

func TestCursorOrderPreserved(t *testing.T) {
	// Two keys created in the same millisecond but different microseconds
	// must stay distinct positions.
	at := time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC)
	a, err := keyward.ParseCursor((&keyward.Cursor{CreatedAt: at, ID: 7}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, err := keyward.ParseCursor((&keyward.Cursor{CreatedAt: at.Add(time.Microsecond), ID: 7}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !b.CreatedAt.After(a.CreatedAt) {
		t.Fatalf("cursors a microsecond apart decode to %v and %v", a.CreatedAt, b.CreatedAt)
	}
}

func TestParseCursorInvalid(t *testing.T) {
	micros := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	good := cursorToken(t, 1, micros, 456)
	if _, err := keyward.ParseCursor(good); err != nil {
		t.Fatalf("ParseCursor(%q) = %v; the hand-made token must parse", good, err)
	}
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	long := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 17)...))
	stdAlphabet := strings.NewReplacer("-", "+", "_", "/").Replace(cursorToken(t, 1, micros, keyward.MaxKeyID-1))
	if !strings.ContainsAny(stdAlphabet, "+/") {
		t.Fatalf("%q has no character outside the URL-safe alphabet", stdAlphabet)
	}
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"garbage", "not a cursor!"},
		{"word", "garbage"},
		{"padded", good + "="},
		{"standard base64 alphabet", stdAlphabet},
		{"one character short", good[:len(good)-1]},
		{"one character long", good + "A"},
		{"newline inside", good[:3] + "\n" + good[3:]},
		{"carriage return and newline at the end", good + "\r\n"},
		{"newline in place of a character", good[:len(good)-1] + "\n"},
		{"16 bytes", short},
		{"18 bytes", long},
		{"version 0", cursorToken(t, 0, micros, 456)},
		{"version 2", cursorToken(t, 2, micros, 456)},
		{"version 255", cursorToken(t, 255, micros, 456)},
		{"id 0", cursorToken(t, 1, micros, 0)},
		{"id 2^53", cursorToken(t, 1, micros, keyward.MaxKeyID)},
		{"id 2^63", cursorToken(t, 1, micros, 1<<63)},
		{"id -1", cursorToken(t, 1, micros, ^uint64(0))},
		{"space inside", good[:5] + " " + good[6:]},
		{"key id", "key-456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := keyward.ParseCursor(tt.in)
			if err == nil {
				t.Fatalf("ParseCursor(%q) = %+v, want an error", tt.in, c)
			}
			if c != nil {
				t.Fatalf("ParseCursor(%q) returned %+v with its error", tt.in, c)
			}
			if code := keyward.ErrorCode(err); code != keyward.EINVALID {
				t.Fatalf("ErrorCode = %q, want %q", code, keyward.EINVALID)
			}
			fields := keyward.ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != "cursor" || fields[0].Reason == "" {
				t.Fatalf("ErrorFields = %+v, want one about the cursor", fields)
			}
		})
	}
}

func TestCursorAfter(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 30, 45, 123456000, time.UTC)
	k := &keyward.Key{ID: 456, OrgID: "acme", Name: "ci", CreatedAt: at}
	c := keyward.CursorAfter(k)
	if c == nil {
		t.Fatal("CursorAfter returned nil")
	}
	if c.ID != k.ID || !c.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("CursorAfter = %+v, want the position of key %d at %v", c, k.ID, k.CreatedAt)
	}
	back, err := keyward.ParseCursor(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != k.ID || !back.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("cursor after key %d at %v decodes to %+v", k.ID, k.CreatedAt, back)
	}
	// The cursor is a copy: changing the key afterwards must not move it.
	k.ID, k.CreatedAt = 1, time.Time{}
	if c.ID != 456 || !c.CreatedAt.Equal(at) {
		t.Fatalf("the cursor moved with the key: %+v", c)
	}
}

func FuzzParseCursor(f *testing.F) {
	now := time.Now()
	for _, s := range []string{
		(&keyward.Cursor{CreatedAt: now, ID: 456}).Encode(),
		(&keyward.Cursor{CreatedAt: time.Time{}, ID: keyward.MaxKeyID - 1}).Encode(),
		(&keyward.Cursor{CreatedAt: time.Unix(0, 0), ID: 1}).Encode(),
		"", "garbage", "AQAAAAAAAAAAAAAAAAAAAAA", "AQAAAAAAAAAAAAAAAAAAAAE", "AgAAAAAAAAAAAAAAAAAAAAE",
		"AQ==", "////////////////////////", "key-456",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := keyward.ParseCursor(in)
		if err != nil {
			if c != nil {
				t.Fatalf("ParseCursor(%q) returned %+v with its error", in, c)
			}
			if code := keyward.ErrorCode(err); code != keyward.EINVALID {
				t.Fatalf("ParseCursor(%q): ErrorCode = %q, want %q", in, code, keyward.EINVALID)
			}
			return
		}
		if c.ID < 1 || c.ID >= keyward.MaxKeyID {
			t.Fatalf("ParseCursor(%q) has id %d outside [1, 2^53)", in, int64(c.ID))
		}
		if c.CreatedAt.Location() != time.UTC {
			t.Fatalf("ParseCursor(%q) has time in %v", in, c.CreatedAt.Location())
		}
		// One spelling per cursor: what was accepted is what Encode
		// writes, so a cursor cannot be varied to dodge a cache or a log
		// search.
		if enc := c.Encode(); enc != in {
			t.Fatalf("ParseCursor(%q) = %+v, which encodes as %q", in, c, enc)
		}
		again, err := keyward.ParseCursor(c.Encode())
		if err != nil {
			t.Fatalf("ParseCursor(%q) = %+v, whose Encode() does not parse: %v", in, c, err)
		}
		if again.ID != c.ID || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("ParseCursor(%q) = %+v, re-encoded as %+v", in, c, again)
		}
	})
}
