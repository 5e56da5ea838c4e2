// Package oidctest runs an OpenID Connect provider in the test process, for
// the console's end-to-end tests: zitadel's provider (pkg/op) over the
// in-memory storage of its example, with the test's users, each with a
// password and the groups its ID token names. Its sign-in page is the
// example's form of user name and password. Tests only.
package oidctest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"
)

// User is a person the provider knows.
type User struct {
	Username string
	Password string
	Name     string
	Groups   []string
}

// Provider is a running provider.
type Provider struct {
	// Issuer is its URL, http://127.0.0.1:port.
	Issuer string
	// ClientID and ClientSecret are those of the one client it knows,
	// whose redirect URL is the one given to Start.
	ClientID, ClientSecret string
}

type userStore struct {
	users map[string]*storage.User
}

func (u userStore) GetUserByID(id string) *storage.User { return u.users[id] }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u.users {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u userStore) ExampleClientID() string { return storage.ServiceUserID }

// groupsStorage adds the groups and the name to the ID token's claims.
type groupsStorage struct {
	*storage.Storage
	users map[string]User
	claim string
}

func (s groupsStorage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if err := s.Storage.SetUserinfoFromScopes(ctx, info, userID, clientID, scopes); err != nil {
		return err
	}
	if u, ok := s.users[userID]; ok {
		info.Name = u.Name
		info.PreferredUsername = u.Username
		info.AppendClaims(s.claim, u.Groups)
	}
	return nil
}

// Start runs a provider on a loopback port until the test ends, with one
// web client whose callback is redirectURL, and users whose groups are in
// the claim groupsClaim.
func Start(t testing.TB, redirectURL, groupsClaim string, users ...User) Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	p := Provider{Issuer: issuer, ClientID: "console", ClientSecret: "console-secret-for-tests"}
	byID := map[string]*storage.User{}
	plain := map[string]User{}
	for _, u := range users {
		id := "sub-" + u.Username
		byID[id] = &storage.User{ID: id, Username: u.Username, Password: u.Password, FirstName: u.Name,
			Email: u.Username + "@ofii.test", EmailVerified: true, PreferredLanguage: language.French}
		plain[id] = u
	}
	st := storage.NewStorageWithClients(userStore{byID}, map[string]*storage.Client{
		p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret, redirectURL),
	})
	router := exampleop.SetupServer(issuer, groupsStorage{Storage: st, users: plain, claim: groupsClaim}, nil, false)
	srv := &http.Server{Handler: router, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}
