package httptransport

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/errs"
)

func TestParseTokens(t *testing.T) {
	h1, h2 := HashToken("token-one"), HashToken("token-two")
	tests := []struct {
		name    string
		spec    string
		want    map[string][]Role // name → roles
		wantErr string
	}{
		{name: "Empty", spec: "", want: map[string][]Role{}},
		{name: "OK", spec: "alice:admin:" + h1, want: map[string][]Role{"alice": {RoleAdmin}}},
		{
			name: "SeveralAndRoles",
			spec: " alice:admin:" + h1 + " ; bob:auditor+controller:" + h2 + ";",
			want: map[string][]Role{"alice": {RoleAdmin}, "bob": {RoleAuditor, RoleController}},
		},
		{
			name: "FileWithComments",
			spec: "# finance staff\nalice:preparer:" + h1 + "  # ops\n\nbob:approver+approver:" + strings.ToUpper(h2) + "\n",
			want: map[string][]Role{"alice": {RolePreparer}, "bob": {RoleApprover}},
		},
		{name: "ErrUnknownRole", spec: "alice:boss:" + h1, wantErr: `entry 1 (alice): unknown role "boss"`},
		{name: "ErrNoRole", spec: "alice::" + h1, wantErr: `entry 1 (alice): unknown role ""`},
		{name: "ErrHashLength", spec: "alice:admin:" + h1 + ";bob:admin:abc123", wantErr: "entry 2 (bob): the hash has 6 characters, want the 64 hex digits"},
		{name: "ErrRawTokenInsteadOfHash", spec: "alice:admin:" + strings.Repeat("A", 43), wantErr: "entry 1 (alice): the hash has 43 characters"},
		{name: "ErrHashNotHex", spec: "alice:admin:" + h1[:63] + "z", wantErr: "entry 1 (alice): the hash is not hexadecimal"},
		{name: "ErrDuplicateName", spec: "alice:admin:" + h1 + ";alice:auditor:" + h2, wantErr: `entry 2 (alice): duplicate name "alice" (first at entry 1)`},
		{name: "ErrDuplicateToken", spec: "alice:admin:" + h1 + ";bob:auditor:" + h1, wantErr: `entry 2 (bob): the same token as "alice"`},
		{name: "ErrFields", spec: "alice:admin", wantErr: "entry 1: has 2 ':'-separated fields, want name:role[+role]:sha256hex[:last-day]"},
		{name: "LastDay", spec: "alice:admin:" + h1 + ":2027-03-31", want: map[string][]Role{"alice": {RoleAdmin}}},
		{name: "ErrLastDay", spec: "alice:admin:" + h1 + ":31/03/2027", wantErr: `entry 1 (alice): the last day "31/03/2027" is not a date YYYY-MM-DD`},
		{name: "ErrFiveFields", spec: "alice:admin:" + h1 + ":2027-03-31:x", wantErr: "entry 1: has 5 ':'-separated fields"},
		{name: "ErrEmptyName", spec: ":admin:" + h1, wantErr: "entry 1: the name is empty"},
		{name: "ErrSpaceInName", spec: "alice smith:admin:" + h1, wantErr: `entry 1: the name "alice smith" contains a space`},
		{name: "ErrLineNumber", spec: "alice:admin:" + h1 + "\n# comment\nbob:admin:xyz", wantErr: "line 3 (bob): the hash has 3 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokens(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTokens error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTokens: %v", err)
			}
			if got.Len() != len(tt.want) {
				t.Fatalf("Len = %d, want %d", got.Len(), len(tt.want))
			}
			for _, e := range got.entries {
				if want, ok := tt.want[e.name]; !ok || !slices.Equal(e.roles, want) {
					t.Errorf("entry %s has roles %v, want %v", e.name, e.roles, want)
				}
			}
		})
	}
}

func TestLoadTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	content := "# staff tokens\ncarol:controller:" + HashToken("carol-token") + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		tokens, err := LoadTokens("alice:admin:"+HashToken("alice-token"), file)
		if err != nil {
			t.Fatalf("LoadTokens: %v", err)
		}
		if p, ok := tokens.Authenticate("carol-token"); !ok || p.Name != "carol" || !p.HasRole(RoleController) {
			t.Errorf("carol's token = %+v, %v", p, ok)
		}
		if p, ok := tokens.Authenticate("alice-token"); !ok || p.Name != "alice" {
			t.Errorf("alice's token = %+v, %v", p, ok)
		}
	})
	t.Run("ErrDuplicateAcrossSources", func(t *testing.T) {
		_, err := LoadTokens("carol:admin:"+HashToken("other"), file)
		want := `AUTH_TOKENS_FILE ` + file + `: line 2 (carol): duplicate name "carol" (first at AUTH_TOKENS entry 1)`
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v, want %s", err, want)
		}
	})
	t.Run("ErrInline", func(t *testing.T) {
		_, err := LoadTokens("alice:root:"+HashToken("x"), "")
		if err == nil || !strings.HasPrefix(err.Error(), `AUTH_TOKENS: entry 1 (alice): unknown role "root"`) {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		_, err := LoadTokens("", filepath.Join(dir, "missing"))
		if err == nil || !strings.HasPrefix(err.Error(), "AUTH_TOKENS_FILE: ") {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	tokens, err := ParseTokens("alice:admin:" + HashToken("secret-a") + ";bob:auditor:" + HashToken("secret-b"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token, wantName string
		ok              bool
	}{
		{"secret-a", "alice", true},
		{"secret-b", "bob", true},
		{"secret-c", "", false},
		{"secret-a ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		p, ok := tokens.Authenticate(tt.token)
		if ok != tt.ok || p.Name != tt.wantName {
			t.Errorf("Authenticate(%q) = %q, %v; want %q, %v", tt.token, p.Name, ok, tt.wantName, tt.ok)
		}
	}
	if _, ok := (Tokens{}).Authenticate("secret-a"); ok {
		t.Error("the zero Tokens accepted a token")
	}
}

// TestCheckExpiry: a token is valid through its last day (UTC) and not a
// moment after, with a message that says so.
func TestCheckExpiry(t *testing.T) {
	tokens, err := ParseTokens("alice:admin:" + HashToken("secret-a") + ":2026-12-04;bob:auditor:" + HashToken("secret-b"))
	if err != nil {
		t.Fatal(err)
	}
	lastMoment := time.Date(2026, 12, 4, 23, 59, 59, 999999999, time.UTC)
	if p, err := tokens.Check("secret-a", lastMoment); err != nil || p.Name != "alice" {
		t.Errorf("Check on its last day = %v, %v; want alice", p, err)
	}
	p, err := tokens.Check("secret-a", lastMoment.Add(time.Nanosecond))
	if !errs.Is(err, errs.Unauthorized) || p.Name != "" ||
		err.Error() != "the token of alice expired at the end of 2026-12-04 (UTC): ask an administrator for a new one" {
		t.Errorf("Check the day after = %v, %v; want unauthorized, expired", p, err)
	}
	old, err := ParseTokens("carol:admin:" + HashToken("secret-c") + ":2020-01-31")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := old.Authenticate("secret-c"); ok {
		t.Error("Authenticate took a token whose last day was 2020-01-31")
	}
	if p, err := tokens.Check("secret-b", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || p.Name != "bob" {
		t.Errorf("a token without a last day: %v, %v", p, err)
	}
	if _, err := tokens.Check("secret-x", lastMoment); !errs.Is(err, errs.Unauthorized) || err.Error() != "the bearer token is not valid" {
		t.Errorf("an unknown token: %v", err)
	}
}

func TestHashToken(t *testing.T) {
	// echo -n abc | sha256sum
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Errorf("HashToken(abc) = %s, want %s", got, want)
	}
}

func TestNewToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two tokens are equal")
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 || len(a) != 43 {
		t.Fatalf("token %q: %d bytes, %v; want 32 bytes of base64url", a, len(raw), err)
	}
	tokens, err := ParseTokens("ops:admin:" + HashToken(a))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tokens.Authenticate(a); !ok {
		t.Error("a new token does not authenticate against its own hash")
	}
}
