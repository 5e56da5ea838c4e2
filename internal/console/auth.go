package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/demostaff"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// The cookies of the console.
const (
	sessionCookie = "console_session" // the session's token
	loginCookie   = "console_login"   // state, nonce and PKCE verifier of a sign-in under way
	preCookie     = "console_pre"     // the form token of the sign-in page, before any session
)

// DemoStaff are the people who may sign in without the provider, in dev
// mode only: the staff of `make demo`.
var DemoStaff = demostaff.Staff

// RolesOf returns the roles that groups give under mapping, each once, in
// the order of the API's roles.
func RolesOf(groups []string, mapping map[string][]string) []string {
	var out []string
	for _, g := range groups {
		for _, r := range mapping[g] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	order := []string{payments.RolePreparer, payments.RoleApprover, payments.RoleController, payments.RoleAuditor, payments.RoleAdmin}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	return out
}

// oidcClient signs people in through the agency's provider.
type oidcClient struct {
	cfg      config.Console
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
	key      []byte // signs the sign-in cookie
}

func newOIDC(ctx context.Context, cfg config.Console, client *http.Client) (*oidcClient, error) {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	ctx = oidc.ClientContext(ctx, client)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	k := sha256.Sum256([]byte("console sign-in\x00" + cfg.ClientSecret))
	return &oidcClient{cfg: cfg, client: client, key: k[:],
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}},
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
	}, nil
}

// pendingLogin is a sign-in under way, kept in a signed cookie between the
// redirect to the provider and its callback.
type pendingLogin struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x"`
	Until    time.Time `json:"u"`
}

func (o *oidcClient) seal(p pendingLogin) string {
	b, _ := json.Marshal(p)
	m := hmac.New(sha256.New, o.key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (o *oidcClient) open(v string) (pendingLogin, bool) {
	var p pendingLogin
	body, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return p, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	s, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return p, false
	}
	m := hmac.New(sha256.New, o.key)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), s) || json.Unmarshal(b, &p) != nil || time.Now().After(p.Until) {
		return p, false
	}
	return p, true
}

func randomText() (string, error) {
	b, err := randomBytes(24)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// localNext returns next when it is a page of the console, else the
// "À traiter" page: a sign-in never sends anyone elsewhere.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/console/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(u.Path, "/console/auth/") || strings.HasPrefix(u.Path, "/console/static/") {
		return pathTodo
	}
	return u.RequestURI()
}

// secure reports whether cookies must be Secure: always, except in dev
// mode on a request to a loopback address.
func (c *Console) secure(r *http.Request) bool {
	if !c.opts.Dev {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: c.secure(r), SameSite: site})
}

// signIn shows the sign-in page: the provider's button, and the demo
// staff in dev mode.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	next := localNext(r.URL.Query().Get("suivant"))
	pre := ""
	if c.opts.Dev {
		if ck, err := r.Cookie(preCookie); err == nil && len(ck.Value) > 20 && len(ck.Value) < 100 {
			pre = ck.Value
		} else {
			var err error
			if pre, err = randomText(); err != nil {
				c.fail(w, r, nil, err)
				return
			}
			c.setCookie(w, r, preCookie, pre, "/console/", 3600, http.SameSiteStrictMode)
		}
	}
	data := map[string]any{
		"OIDC": c.oidc != nil, "Dev": c.opts.Dev, "Staff": DemoStaff, "Pre": pre, "Next": next,
		"LoginURL": pathAuthLogin + "?" + url.Values{"suivant": {next}}.Encode(),
		"Expired":  r.URL.Query().Get("expiree") != "",
		"Message":  r.URL.Query().Get("motif"),
	}
	c.render(w, r, nil, http.StatusOK, "signin", "Connexion", data)
}

// demoSignIn signs in one of the demo staff, in dev mode only.
func (c *Console) demoSignIn(w http.ResponseWriter, r *http.Request) {
	if !c.opts.Dev {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		c.refuse(w, r, nil, http.StatusBadRequest, "Le formulaire envoyé n'a pas pu être lu.")
		return
	}
	ck, err := r.Cookie(preCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("jeton"))) != 1 {
		c.refuse(w, r, nil, http.StatusForbidden, "Le jeton du formulaire est absent ou ne correspond pas : rechargez la page de connexion et recommencez.")
		return
	}
	name := r.PostFormValue("personne")
	i := slices.IndexFunc(DemoStaff, func(p demostaff.Person) bool { return p.Name == name })
	if i < 0 {
		c.refuse(w, r, nil, http.StatusBadRequest, "Cette personne ne fait pas partie du personnel de démonstration.")
		return
	}
	p := DemoStaff[i]
	c.startSession(w, r, "demo:"+p.Name, p.Name, p.Roles, localNext(r.PostFormValue("suivant")))
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, subject, name string, roles []string, next string) {
	token, s, err := c.sessions.Create(r.Context(), subject, name, roles)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setCookie(w, r, sessionCookie, token, "/console/", 0, http.SameSiteLaxMode)
	if next == pathTodo {
		next = landing(s)
	}
	c.log.Info("console sign-in", "name", name, "roles", strings.Join(roles, "+"), "address", r.RemoteAddr,
		"expires", s.Expires.Format(time.RFC3339))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// authLogin sends the browser to the provider, with PKCE.
func (c *Console) authLogin(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		http.NotFound(w, r)
		return
	}
	var p pendingLogin
	var err error
	if p.State, err = randomText(); err == nil {
		p.Nonce, err = randomText()
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	p.Verifier = oauth2.GenerateVerifier()
	p.Next = localNext(r.URL.Query().Get("suivant"))
	p.Until = time.Now().Add(10 * time.Minute)
	c.setCookie(w, r, loginCookie, c.oidc.seal(p), "/console/auth/", 600, http.SameSiteLaxMode)
	http.Redirect(w, r, c.oidc.oauth.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// authCallback takes the provider's answer: it exchanges the code with the
// PKCE verifier, checks the ID token and its nonce, maps the groups to
// roles and opens a session.
func (c *Console) authCallback(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		http.NotFound(w, r)
		return
	}
	ck, err := r.Cookie(loginCookie)
	var p pendingLogin
	ok := err == nil
	if ok {
		p, ok = c.oidc.open(ck.Value)
	}
	c.setCookie(w, r, loginCookie, "", "/console/auth/", -1, http.SameSiteLaxMode)
	q := r.URL.Query()
	if !ok || q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		c.refuse(w, r, nil, http.StatusBadRequest, "Cette connexion n'a pas été demandée depuis ce navigateur, ou elle a expiré : recommencez.")
		return
	}
	if e := q.Get("error"); e != "" {
		c.log.Warn("console sign-in refused by the provider", "error", e, "description", q.Get("error_description"))
		c.refuse(w, r, nil, http.StatusForbidden, "Le fournisseur d'identité a refusé la connexion.")
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.oidc.client)
	tok, err := c.oidc.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		c.log.Warn("console sign-in: code exchange failed", "error", err.Error())
		c.refuse(w, r, nil, http.StatusBadGateway, "Le fournisseur d'identité n'a pas confirmé la connexion : recommencez.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := c.oidc.verifier.Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(p.Nonce)) != 1 {
		c.log.Warn("console sign-in: ID token refused", "error", fmt.Sprint(err))
		c.refuse(w, r, nil, http.StatusForbidden, "Le jeton d'identité reçu n'est pas valide.")
		return
	}
	name, groups, err := claimsOf(id, c.oidc.cfg.GroupsClaim)
	if err != nil {
		c.log.Warn("console sign-in: claims unreadable", "error", err.Error())
		c.refuse(w, r, nil, http.StatusForbidden, "Le jeton d'identité reçu ne peut pas être lu.")
		return
	}
	roles := RolesOf(groups, c.oidc.cfg.RoleGroups)
	if len(roles) == 0 {
		c.log.Warn("console sign-in refused: no group gives a role", "name", name, "groups", len(groups))
		c.refuse(w, r, nil, http.StatusForbidden, "Votre compte n'appartient à aucun groupe donnant accès à la console. Demandez un rôle à un administrateur.")
		return
	}
	c.startSession(w, r, id.Subject, name, roles, p.Next)
}

// claimsOf reads the person's name (name, preferred_username, email or
// subject) and groups (a list, or one string) from an ID token.
func claimsOf(id *oidc.IDToken, groupsClaim string) (string, []string, error) {
	var all map[string]any
	if err := id.Claims(&all); err != nil {
		return "", nil, err
	}
	// The audit trail and the four-eyes checks go by this name: the
	// provider's unique ones come first.
	name := id.Subject
	for _, k := range []string{"name", "preferred_username", "email"} {
		if v, ok := all[k].(string); ok && strings.TrimSpace(v) != "" {
			name = strings.TrimSpace(v)
		}
	}
	if len(name) > 200 {
		return "", nil, errors.New("the name is longer than 200 characters")
	}
	var groups []string
	switch g := all[groupsClaim].(type) {
	case nil:
	case string:
		groups = []string{g}
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				groups = append(groups, s)
			}
		}
	default:
		return "", nil, fmt.Errorf("the claim %s is neither a list nor a string", groupsClaim)
	}
	return name, groups, nil
}

// signOut revokes the session and goes back to the sign-in page.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *Session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.sessions.Revoke(r.Context(), ck.Value); err != nil {
			c.fail(w, r, s, err)
			return
		}
	}
	c.setCookie(w, r, sessionCookie, "", "/console/", -1, http.SameSiteLaxMode)
	c.log.Info("console sign-out", "name", s.Name)
	http.Redirect(w, r, pathSignIn+"?motif=deconnexion", http.StatusSeeOther)
}

// session returns the live session of the request, or nil.
func (c *Console) session(r *http.Request) *Session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, err := c.sessions.Get(r.Context(), ck.Value)
	if err != nil {
		if !errors.Is(err, ErrNoSession) {
			c.log.Error("console session unreadable", "error", err.Error())
		}
		return nil
	}
	return s
}

// handlerFunc is a page or an action of a signed-in person.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *Session)

// signedIn lets a request through with a live session only: without one,
// the browser goes to the sign-in page, which brings it back to the page
// asked for. A form sent (POST) must carry the session's form token; the
// roles, when given, are those the page needs.
func (c *Console) signedIn(roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = r.Header.Get("Referer")
				if u, err := url.Parse(next); err == nil {
					next = u.RequestURI()
				}
			}
			http.Redirect(w, r, pathSignIn+"?"+url.Values{"suivant": {localNext(next)}, "expiree": {"1"}}.Encode(), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			limit := int64(1 << 20)
			if r.URL.Path == pathRecon+"/releves" {
				limit = reconcile.DefaultMaxBytes + 1<<20 // the file and the form around it
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			parse := r.ParseForm
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				parse = func() error { return r.ParseMultipartForm(8 << 20) }
			}
			if err := parse(); err != nil {
				c.refuse(w, r, s, http.StatusBadRequest, "Le formulaire envoyé n'a pas pu être lu.")
				return
			}
			if !s.CheckCSRF(r.PostFormValue("csrf")) {
				c.log.Warn("console form refused: CSRF token missing or wrong", "name", s.Name, "path", r.URL.Path)
				c.refuse(w, r, s, http.StatusForbidden, "Ce formulaire n'est pas valable pour votre session (jeton absent ou incorrect) : rechargez la page et recommencez.")
				return
			}
		}
		if roles == nil {
			roles = everyone
		}
		if len(roles) > 0 && !s.Has(roles...) {
			c.refuse(w, r, s, http.StatusForbidden, "Votre rôle ne permet pas d'accéder à cette page ou de faire cette action.")
			return
		}
		h(w, r, s)
	})
}

// actor is the person of s as the audit trail records them, with the
// address the request came from.
func actor(s *Session, r *http.Request) payments.Actor {
	return payments.Actor{Name: s.Name, Roles: slices.Clone(s.Roles), Address: r.RemoteAddr}
}
