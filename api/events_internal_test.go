package api

import (
	"net/http"
	"strconv"
	"testing"
)

// FuzzLastEventID checks that any Last-Event-ID a client sends is either a
// cursor the server could have sent (a positive message id, written as
// the server writes it) or reported as not one of ours.
func FuzzLastEventID(f *testing.F) {
	for _, seed := range []string{"", "1", "42", "0", "-1", "007", "9223372036854775807", "9223372036854775808", "1e3", " 5", "abc"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Last-Event-Id": {v}}}
		cursor, resume, bad := lastEventID(r)
		switch {
		case v == "":
			if resume || bad {
				t.Errorf("%q: got resume %v, bad %v; want neither", v, resume, bad)
			}
		case resume == bad:
			t.Errorf("%q: got resume %v, bad %v; want one of them", v, resume, bad)
		case resume && (cursor <= 0 || strconv.FormatInt(int64(cursor), 10) != trimZeros(v)):
			t.Errorf("%q: got cursor %d", v, cursor)
		}
	})
}

// trimZeros drops leading zeros, which parseID accepts.
func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
