package errs

import "testing"

// TestHTTPStatusRoundTrip: every code's status reads back as that code, so
// that a client says what the server meant.
func TestHTTPStatusRoundTrip(t *testing.T) {
	for _, c := range []Code{Invalid, NotFound, Conflict, Unauthorized, Forbidden, TooLarge, Unsupported, Unavailable, Internal} {
		if got := CodeOfHTTPStatus(HTTPStatus(c)); got != c {
			t.Errorf("%s: status %d reads back as %s", c, HTTPStatus(c), got)
		}
	}
	for s, want := range map[int]Code{422: Invalid, 502: Unavailable, 504: Unavailable, 418: Internal, 200: Internal} {
		if got := CodeOfHTTPStatus(s); got != want {
			t.Errorf("status %d reads as %s, want %s", s, got, want)
		}
	}
	if HTTPStatus("nonsense") != 500 {
		t.Error("an unknown code is not 500")
	}
}
