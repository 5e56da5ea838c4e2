package httptransport

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/staff"
)

// Role is what a person may do through the API: a staff.Role, named here
// for the routing tables.
type Role = staff.Role

// The roles of the staff API (staff.Role).
const (
	RolePreparer   = staff.RolePreparer
	RoleApprover   = staff.RoleApprover
	RoleController = staff.RoleController
	RoleAuditor    = staff.RoleAuditor
	RoleAdmin      = staff.RoleAdmin
	RoleBudget     = staff.RoleBudget
)

// AllRoles returns every role, for routes that any authenticated person may
// call (staff.AllRoles).
func AllRoles() []Role { return staff.AllRoles() }

// Principal is who made a request: the name of the token's holder, the roles
// it carries and the address the request came from. It is kept in the
// request's context for audit trails.
type Principal struct {
	Name       string
	Roles      []Role
	RemoteAddr string
}

// HasRole reports whether p holds at least one of roles.
func (p Principal) HasRole(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

type principalKey struct{}

// ContextWithPrincipal returns ctx carrying p; the HTTP API does this for
// every authenticated request, and other entry points (the scheduler, the
// Kafka consumer) may do it to name themselves in audit trails.
func ContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of an authenticated request, and false
// when ctx carries none.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Tokens is the set of accepted bearer tokens. Only the SHA-256 of each
// token is held, so that neither memory nor configuration holds a token
// that works. The zero Tokens accepts no token.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	name  string
	roles []Role
	hash  [sha256.Size]byte
	// expires is the first instant the token is no longer valid: the end
	// of its last day, UTC; zero when it does not expire.
	expires time.Time
}

// Len returns the number of tokens.
func (t Tokens) Len() int { return len(t.entries) }

// Authenticate returns the principal holding token, with no RemoteAddr, and
// false when no entry matches. It compares the token's hash with every
// entry in constant time, so the time taken says nothing about which entry,
// or how much of one, was close.
func (t Tokens) Authenticate(token string) (Principal, bool) {
	p, err := t.Check(token, time.Now())
	return p, err == nil
}

// Check returns the principal holding token at now, or an unauthorized
// error saying why not: no entry matches, or the token's last day is past.
// It compares the token's hash with every entry in constant time.
func (t Tokens) Check(token string, now time.Time) (Principal, error) {
	if token == "" {
		return Principal{}, errs.E(errs.Unauthorized, "a bearer token is required (Authorization: Bearer <token>)")
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, errs.E(errs.Unauthorized, "the bearer token is not valid")
	}
	e := t.entries[found]
	if !e.expires.IsZero() && !now.Before(e.expires) {
		return Principal{}, errs.E(errs.Unauthorized, "the token of %s expired at the end of %s (UTC): ask an administrator for a new one",
			e.name, e.expires.Add(-time.Nanosecond).Format(time.DateOnly))
	}
	return Principal{Name: e.name, Roles: slices.Clone(e.roles)}, nil
}

// HashToken returns the hex SHA-256 of token, the form in which tokens are
// configured.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a new random token: 32 bytes from crypto/rand, base64url
// without padding (43 characters).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ParseTokens reads token entries of the form
// name:role[+role]:sha256hex[:YYYY-MM-DD], the date being the token's last
// valid day (UTC), separated by ';' or newlines; '#' starts a comment that runs to the end
// of its line. An error names the entry (by position, and by name once
// known) and the reason: a malformed entry, an unknown role, a hash that is
// not 64 hex digits, a name or a hash given twice.
func ParseTokens(spec string) (Tokens, error) {
	var p tokenParser
	if err := p.parse(spec); err != nil {
		return Tokens{}, err
	}
	return p.tokens, nil
}

// LoadTokens reads the tokens of the AUTH_TOKENS setting (inline, entries
// separated by ';') and of the file named by AUTH_TOKENS_FILE (one entry a
// line, '#' comments), either of which may be empty. A name or a token
// appearing in both is an error.
func LoadTokens(inline, file string) (Tokens, error) {
	p := tokenParser{source: "AUTH_TOKENS "}
	if err := p.parse(inline); err != nil {
		return Tokens{}, fmt.Errorf("AUTH_TOKENS: %w", err)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Tokens{}, fmt.Errorf("AUTH_TOKENS_FILE: %w", err)
		}
		p.source = "AUTH_TOKENS_FILE "
		if err := p.parse(string(b)); err != nil {
			return Tokens{}, fmt.Errorf("AUTH_TOKENS_FILE %s: %w", file, err)
		}
	}
	return p.tokens, nil
}

// tokenParser accumulates entries from one or more sources, remembering
// where each name and hash was first seen to report duplicates.
type tokenParser struct {
	tokens Tokens
	source string // prefix of "where" for entries of the current source
	names  map[string]string
	hashes map[[sha256.Size]byte]string
}

func (p *tokenParser) parse(spec string) error {
	lines := strings.Split(spec, "\n")
	for i, line := range lines {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		parts := strings.Split(line, ";")
		for k, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			var where string
			switch {
			case len(lines) == 1:
				where = fmt.Sprintf("entry %d", k+1)
			case len(parts) == 1:
				where = fmt.Sprintf("line %d", i+1)
			default:
				where = fmt.Sprintf("line %d entry %d", i+1, k+1)
			}
			if err := p.entry(where, part); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *tokenParser) entry(where, s string) error {
	fields := strings.Split(s, ":")
	if len(fields) != 3 && len(fields) != 4 {
		return fmt.Errorf("%s: has %d ':'-separated fields, want name:role[+role]:sha256hex[:last-day]", where, len(fields))
	}
	name, roleList, hexHash := strings.TrimSpace(fields[0]), fields[1], strings.TrimSpace(fields[2])
	if name == "" {
		return fmt.Errorf("%s: the name is empty", where)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%s: the name %q contains a space or a control character", where, name)
	}
	pos := where
	where = fmt.Sprintf("%s (%s)", where, name)

	var roles []Role
	for _, rs := range strings.Split(roleList, "+") {
		r, err := staff.ParseRole(strings.TrimSpace(rs))
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}

	if len(hexHash) != 2*sha256.Size {
		return fmt.Errorf("%s: the hash has %d characters, want the 64 hex digits of the token's SHA-256 (ledgerctl token hash)", where, len(hexHash))
	}
	var e tokenEntry
	if _, err := hex.Decode(e.hash[:], []byte(hexHash)); err != nil {
		return fmt.Errorf("%s: the hash is not hexadecimal", where)
	}
	e.name, e.roles = name, roles
	if len(fields) == 4 {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(fields[3]))
		if err != nil {
			return fmt.Errorf("%s: the last day %q is not a date YYYY-MM-DD", where, strings.TrimSpace(fields[3]))
		}
		e.expires = d.AddDate(0, 0, 1)
	}

	if p.names == nil {
		p.names = map[string]string{}
		p.hashes = map[[sha256.Size]byte]string{}
	}
	if first, dup := p.names[name]; dup {
		return fmt.Errorf("%s: duplicate name %q (first at %s)", where, name, first)
	}
	if other, dup := p.hashes[e.hash]; dup {
		return fmt.Errorf("%s: the same token as %q", where, other)
	}
	p.names[name] = p.source + pos
	p.hashes[e.hash] = name
	p.tokens.entries = append(p.tokens.entries, e)
	return nil
}

// credentials is what a request says of its caller, read at the HTTP level
// by readCredentials and judged by the authenticate middleware.
type credentials struct {
	token      string // the bearer token, "" when the request has none
	remoteAddr string
}

type credentialsKey struct{}

// readCredentials is the kithttp.ServerBefore of every route that needs a
// token: it puts the request's bearer token and address in the context.
// It decides nothing; authenticate does.
func readCredentials(ctx context.Context, r *http.Request) context.Context {
	token, _ := bearerToken(r)
	return context.WithValue(ctx, credentialsKey{}, credentials{token: token, remoteAddr: r.RemoteAddr})
}

// challenge is an unauthorized error answered with a WWW-Authenticate
// header: it is a kithttp.Headerer, which encodeError writes.
type challenge struct {
	err    error
	header string
}

func (c challenge) Error() string { return c.err.Error() }
func (c challenge) Unwrap() error { return c.err }

// Headers returns the WWW-Authenticate challenge of the response.
func (c challenge) Headers() http.Header {
	return http.Header{"Www-Authenticate": []string{c.header}}
}

// authenticate is the endpoint middleware that lets a request through only
// with a valid bearer token of tokens (read by readCredentials), and puts
// its Principal in the context and in the request log. Without a token,
// or with one not valid, it fails unauthorized with a WWW-Authenticate
// challenge.
func authenticate(tokens Tokens) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			c, _ := ctx.Value(credentialsKey{}).(credentials)
			if c.token == "" {
				return nil, challenge{
					err:    errs.E(errs.Unauthorized, "a bearer token is required (Authorization: Bearer <token>)"),
					header: `Bearer realm="allowances"`,
				}
			}
			p, err := tokens.Check(c.token, time.Now())
			if err != nil {
				return nil, challenge{err: err, header: `Bearer realm="allowances", error="invalid_token"`}
			}
			p.RemoteAddr = c.remoteAddr
			if info := infoFrom(ctx); info != nil {
				info.principal = p.Name
			}
			return next(ContextWithPrincipal(ctx, p), request)
		}
	}
}

// authorize is the endpoint middleware that lets through only the
// authenticated principals holding one of the roles in allow, and fails
// forbidden, naming the roles required, for the others. Each route states
// its own allow list; authenticate runs before it.
func authorize(allow ...Role) endpoint.Middleware {
	if len(allow) == 0 {
		panic("httptransport: authorize with no role allowed; a public route must not be wrapped")
	}
	var needText string
	if len(allow) == 1 {
		needText = "the role " + string(allow[0])
	} else {
		needText = "one of the roles " + strings.Join(staff.Names(allow), ", ")
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			p, ok := PrincipalFrom(ctx)
			if !ok {
				return nil, errs.E(errs.Unauthorized, "the request names no authenticated person")
			}
			if !p.HasRole(allow...) {
				return nil, errs.E(errs.Forbidden, "this needs %s; %s has %s", needText, p.Name, rolesText(p.Roles))
			}
			return next(ctx, request)
		}
	}
}

func rolesText(roles []Role) string { return strings.Join(staff.Names(roles), "+") }

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 6750).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
