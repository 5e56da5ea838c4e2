package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/chromedp/chromedp"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/oidctest"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/payments/bank/banksim"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

// The API's tokens of the tests: a preparer who starts the run, two
// approvers who move batches through the API when the console is not
// what a test is about.
const (
	runToken       = "console-test-run-token"
	approverToken1 = "console-test-approver-1"
	approverToken2 = "console-test-approver-2"
	budgetToken1   = "console-test-budget-1"
	budgetToken2   = "console-test-budget-2"
)

// screenshots is where the end-to-end test writes a picture of each page
// (ignored by git).
var screenshots = filepath.Join("..", "..", "console-screenshots")

// ledgerd is a ledgerd run in-process for the console's tests, with an
// OpenID Connect provider.
type ledgerd struct {
	base    string // http://127.0.0.1:port
	batchID string
}

// freeAddr is a loopback address no one listens on, for the console's
// redirect URL, which the provider must know before ledgerd starts.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startLedgerd runs ledgerd in dev mode with the console signing people in
// through a provider of the test, publishes the example events and starts
// October's ADA run through the API.
func startLedgerd(t *testing.T, opts ...server.Option) ledgerd {
	t.Helper()
	_, dbURL := dbtest.MustOpen(t)
	addr := freeAddr(t)
	base := "http://" + addr
	prov := oidctest.Start(t, base+"/console/auth/callback", "groups",
		oidctest.User{Username: "alex", Password: "alex-password", Name: "Alex Martin", Groups: []string{"finance-preparers", "finance-approvers"}},
		oidctest.User{Username: "bea", Password: "bea-password", Name: "Béatrice Roy", Groups: []string{"finance-approvers", "finance-budget"}},
		oidctest.User{Username: "nobody", Password: "nobody-password", Name: "No Body", Groups: []string{"cafeteria"}})
	env := map[string]string{
		"LEDGER_DEV": "true", "DATABASE_URL": dbURL, "HTTP_ADDR": addr,
		"AUTH_TOKENS": "api.runner:preparer:" + httptransport.HashToken(runToken) + ";api.approver1:approver:" +
			httptransport.HashToken(approverToken1) + ";api.approver2:approver:" + httptransport.HashToken(approverToken2) +
			";api.budget1:budget:" + httptransport.HashToken(budgetToken1) + ";api.budget2:budget:" + httptransport.HashToken(budgetToken2),
		"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0", "BANK_EMBEDDED_ADDR": "127.0.0.1:0", "ADA_RUN_DAY": "0",
		"BANK_POLL_INTERVAL": "200ms", "APPROVAL_SECOND_ABOVE": "100.00",
		"CONSOLE_OIDC_ISSUER": prov.Issuer, "CONSOLE_OIDC_CLIENT_ID": prov.ClientID, "CONSOLE_OIDC_CLIENT_SECRET": prov.ClientSecret,
		"CONSOLE_OIDC_REDIRECT_URL": base + "/console/auth/callback",
		"CONSOLE_ROLE_GROUPS":       "finance-preparers=preparer;finance-approvers=approver;finance-control=controller;finance-budget=budget",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan server.Addrs, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	go func() { done <- server.Run(ctx, cfg, log, ready, opts...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("ledgerd did not stop")
		}
	})
	var addrs server.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("ledgerd stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("ledgerd did not start")
	}
	publishExamples(t, addrs.Kafka)
	l := ledgerd{base: base}
	waitFor(t, "the events to be applied", func() bool {
		return apiCall(t, "GET", base+"/v1/beneficiaries/OFII-2026-000123", "", nil) == 200
	})
	var run struct {
		BatchID string `json:"batch_id"`
	}
	if st := apiCall(t, "POST", base+"/v1/runs", `{"kind":"ada","period":"2026-10"}`, &run); st != 201 {
		t.Fatalf("start the run: %d", st)
	}
	l.batchID = run.BatchID
	return l
}

func apiCall(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	return apiCallAs(t, runToken, method, url, body, out)
}

func apiCallAs(t *testing.T, token, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func publishExamples(t *testing.T, broker string) {
	t.Helper()
	data, err := os.ReadFile("../../testdata/contracts/examples/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafkago.Message
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		msgs = append(msgs, kafkago.Message{Key: kafka.KeyOf([]byte(l)), Value: []byte(l)})
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(broker), Topic: "eligibility.v1", Balancer: &kafkago.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// browser starts a headless Debian chromium with a fresh profile. A
// machine without chromium fails the test: .ci/run installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install -y chromium; .ci/run does it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs actions with a time limit, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("%s: %v (at %s: %.500s)", what, err, loc, body)
	}
}

var axeSource = func() string {
	b, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// checkPage runs axe-core on the page shown, failing on any violation of
// WCAG 2.1 A or AA, and writes its screenshot under name.
func checkPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var violations []struct {
		ID    string `json:"id"`
		Help  string `json:"help"`
		Nodes []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	}
	run(t, ctx, "axe-core into "+name, chromedp.Evaluate[chromedp.Void](axeSource))
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(c, chromedp.Evaluate[string](
		`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", name, err)
	}
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatalf("axe result of %s: %v", name, err)
	}
	for _, v := range violations {
		t.Errorf("axe-core on %s: %s (%s) at %v", name, v.ID, v.Help, v.Nodes)
	}
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// text returns the text of the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	// The design system's script may replace nodes just after a page
	// loads: a node gone between the query and the read is queried again.
	var err error
	for try := 0; try < 5; try++ {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		var s string
		s, err = chromedp.Run(c, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		cancel()
		if err == nil {
			return strings.TrimSpace(s)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("read %s: %v", sel, err)
	return ""
}

// demoSignIn signs in one of the demo staff from the sign-in page.
func demoSignIn(t *testing.T, ctx context.Context, base, who, next string) {
	t.Helper()
	run(t, ctx, "sign in as "+who,
		chromedp.Navigate(base+"/console/connexion?suivant="+url.QueryEscape(next)),
		chromedp.Click(chromedp.CSS("#demo-"+strings.ReplaceAll(who, ".", `\.`)), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#navigation")),
	)
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS(`form[action="/console/deconnexion"] button`), chromedp.NodeVisible),
		chromedp.WaitVisible(`//h1[contains(., "Connexion")]`),
	)
}

// openModal clicks the button of an action until its modal shows: the
// design system's script may still be starting when the page appears.
func openModal(t *testing.T, ctx context.Context, action string) {
	t.Helper()
	for try := 0; ; try++ {
		run(t, ctx, "the "+action+" button", chromedp.WaitVisible(chromedp.CSS("#action-"+action+"[data-fr-js-modal-button]")),
			chromedp.Click(chromedp.CSS("#action-"+action), chromedp.NodeVisible))
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS("#confirmer-"+action)))
		cancel()
		if err == nil {
			// The modal's opening transition ends before its buttons
			// stay where a click lands.
			time.Sleep(500 * time.Millisecond)
			return
		}
		if try == 5 {
			t.Fatalf("the modal of %s does not open: %v", action, err)
		}
	}
}

// act opens the modal of an action on a batch's page, writes text and
// confirms.
func act(t *testing.T, ctx context.Context, action, note string) {
	t.Helper()
	openModal(t, ctx, action)
	var acts []chromedp.Action[chromedp.Void]
	if note != "" {
		acts = append(acts, chromedp.SendKeys(chromedp.CSS("#texte-"+action), note))
	}
	acts = append(acts, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus, #form-erreur').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS("#confirmer-"+action)), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.WaitReady(chromedp.CSS("#fait, #refus, #form-erreur")))
	run(t, ctx, action, acts...)
}

// TestConsoleFlows drives the console in chromium against a ledgerd and an
// OpenID Connect provider: a person of the preparers' and approvers' groups
// signs in through the provider and submits October's batch, then is
// refused its approval (they prepared it); two approvers approve it and one
// releases it; every page passes axe-core.
func TestConsoleFlows(t *testing.T) {
	// The bank rejects the account Amina Diallo (OFII-2026-000123) is paid
	// to in October: an exception her payee's correction settles.
	l := startLedgerd(t, server.WithBankSimulator(func(c *banksim.Config) {
		c.RejectIBANs = map[string]bool{"FR7630004008230001073943676": true}
	}))
	ctx := browser(t)
	batchURL := l.base + "/console/lots/" + l.batchID

	// Asked for a batch without a session: the sign-in page, then the
	// provider, then back to the batch.
	run(t, ctx, "ask for the batch", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#connexion-agence")))
	checkPage(t, ctx, "connexion")
	run(t, ctx, "sign in at the provider",
		chromedp.Click(chromedp.CSS("#connexion-agence")),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alex"),
		chromedp.SendKeys(chromedp.CSS("#password"), "alex-password"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#statut-lot")),
	)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != batchURL {
		t.Errorf("after sign-in at %s, want the batch asked for %s", loc, batchURL)
	}
	if got := text(t, ctx, "#statut-lot"); !strings.EqualFold(got, "Brouillon") {
		t.Errorf("status %q, want Brouillon", got)
	}
	checkPage(t, ctx, "lot-brouillon")

	// A reason left empty: the page again, the field marked, nothing done.
	act(t, ctx, "cancel", "")
	if got := text(t, ctx, "#texte-erreur-msg"); !strings.Contains(got, "Indiquez le motif") {
		t.Errorf("empty reason: %q", got)
	}
	checkPage(t, ctx, "lot-erreur-formulaire")
	run(t, ctx, "back to the batch", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
	if got := text(t, ctx, "#statut-lot"); !strings.EqualFold(got, "Brouillon") {
		t.Errorf("after a refused cancellation, status %q, want Brouillon", got)
	}

	act(t, ctx, "submit", "Octobre vérifié")
	if got := text(t, ctx, "#statut-lot"); !strings.EqualFold(got, "En attente d'approbation") {
		t.Errorf("after submit, status %q", got)
	}
	act(t, ctx, "approve", "")
	if got := text(t, ctx, "#refus"); !strings.Contains(got, "Vous avez préparé ce lot") {
		t.Errorf("approval of one's own batch: %q", got)
	}
	checkPage(t, ctx, "lot-refus")
	signOut(t, ctx)
	checkPage(t, ctx, "deconnexion")

	// Two approvers approve; the second releases.
	for i, who := range []string{"paul.approver", "sophie.approver"} {
		demoSignIn(t, ctx, l.base, who, "/console/a-traiter")
		if i == 0 {
			checkPage(t, ctx, "a-traiter")
		}
		run(t, ctx, "open the batch", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
		if i == 0 {
			openModal(t, ctx, "approve")
			checkPage(t, ctx, "lot-modale")
			run(t, ctx, "close the modal", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
		}
		act(t, ctx, "approve", "Conforme")
		if got := text(t, ctx, "#fait"); !strings.Contains(got, "approbation a été enregistrée") {
			t.Errorf("approval by %s: %q", who, got)
		}
		if i == 1 {
			if got := text(t, ctx, "#statut-lot"); !strings.EqualFold(got, "Approuvé") {
				t.Errorf("after two approvals, status %q", got)
			}
			act(t, ctx, "release", "")
			if got := text(t, ctx, "#fait"); !strings.Contains(got, "envoyé") {
				t.Errorf("release: %q", got)
			}
			checkPage(t, ctx, "lot-envoye")
			// The table of the page before the search is removed first, so
			// that the wait is for the page the search loads, not for the
			// old one while the search's navigation is still in flight.
			run(t, ctx, "search a beneficiary", chromedp.SetValue(chromedp.CSS("#beneficiaire"), "000123"),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('table-lignes').remove()`),
				chromedp.Click(chromedp.CSS("#chercher")), chromedp.WaitVisible(chromedp.CSS("#table-lignes")))
			if got := text(t, ctx, "#table-lignes tbody"); !strings.Contains(got, "OFII-2026-000123") || strings.Contains(got, "OFII-2026-000200") {
				t.Errorf("lines for 000123: %q", got)
			}
			run(t, ctx, "the whole batch", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
			checkPage(t, ctx, "lot")
		}
		run(t, ctx, "the batches", chromedp.Navigate(l.base+"/console/lots"), chromedp.WaitVisible(chromedp.CSS("h1")))
		if i == 1 {
			checkPage(t, ctx, "lots")
			run(t, ctx, "a bad filter", chromedp.Navigate(l.base+"/console/lots?mois=octobre"), chromedp.WaitVisible(chromedp.CSS("#mois-erreur")))
			checkPage(t, ctx, "lots-filtre-errone")
		}
		signOut(t, ctx)
	}

	// The bank's status report rejects the payment: the preparer corrects
	// the payee, a bad IBAN first, and makes the batch that pays again.
	demoSignIn(t, ctx, l.base, "marie.preparer", "/console/virements")
	waitFor(t, "the rejection to be an exception", func() bool {
		run(t, ctx, "the transfers", chromedp.Navigate(l.base+"/console/virements"), chromedp.WaitVisible(chromedp.CSS("h1")))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#table-anomalies tbody tr').length`))
		return err == nil && n > 0
	})
	checkPage(t, ctx, "virements")
	run(t, ctx, "open the exception", chromedp.Click(chromedp.CSS("#table-anomalies tbody a"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#iban")))
	checkPage(t, ctx, "anomalie")
	run(t, ctx, "a bad IBAN",
		chromedp.SetValue(chromedp.CSS("#iban"), "FR76 3000 6000 0112 3456 7890 180"),
		chromedp.SetValue(chromedp.CSS("#motif"), "Compte clos, nouveau RIB reçu"),
		chromedp.Click(chromedp.CSS("#corriger")), chromedp.WaitVisible(chromedp.CSS("#iban-erreur")))
	if got := text(t, ctx, "#iban-erreur"); !strings.Contains(got, "IBAN n'est pas valable") {
		t.Errorf("bad IBAN: %q", got)
	}
	checkPage(t, ctx, "anomalie-iban-errone")
	run(t, ctx, "the right IBAN",
		chromedp.SetValue(chromedp.CSS("#iban"), "FR76 3000 6000 0112 3456 7890 189"),
		chromedp.Click(chromedp.CSS("#corriger")), chromedp.WaitVisible(chromedp.CSS("#fait")),
		chromedp.Click(chromedp.CSS("#nouvel-envoi")), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
	if got := text(t, ctx, "h1"); !strings.Contains(got, "Nouvel envoi") {
		t.Errorf("reissue batch page: %q", got)
	}
	if got := text(t, ctx, "#table-lignes tbody"); !strings.Contains(got, "OFII-2026-000123") || !strings.Contains(got, "0189") {
		t.Errorf("reissue lines: %q", got)
	}
	signOut(t, ctx)

	// The auditor reads who did what to the batch, and from where.
	demoSignIn(t, ctx, l.base, "luc.auditor", "/console/journal?objet=batch&id="+l.batchID)
	run(t, ctx, "the trail", chromedp.WaitVisible(chromedp.CSS("#table-journal")))
	trail := text(t, ctx, "#table-journal tbody")
	for _, want := range []string{"Soumission", "alex", "Approbation", "paul.approver", "sophie.approver", "Envoi à la banque", "127.0.0.1"} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail of the batch lacks %q: %s", want, trail)
		}
	}
	checkPage(t, ctx, "journal")
	run(t, ctx, "a bad date", chromedp.Navigate(l.base+"/console/journal?depuis=2026-12-04"), chromedp.WaitVisible(chromedp.CSS("#depuis-erreur")))
	checkPage(t, ctx, "journal-filtre-errone")
	signOut(t, ctx)

	// A person of no group with a role is refused at sign-in.
	run(t, ctx, "sign in without a role",
		chromedp.Navigate(l.base+"/console/connexion"),
		chromedp.Click(chromedp.CSS("#connexion-agence"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "nobody"),
		chromedp.SendKeys(chromedp.CSS("#password"), "nobody-password"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#refus")),
	)
	if got := text(t, ctx, "#refus"); !strings.Contains(got, "aucun groupe") {
		t.Errorf("sign-in without a role: %q", got)
	}
	checkPage(t, ctx, "connexion-refusee")
}

// TestConsoleRefusals checks, without a browser, what the console refuses:
// a form without its session's token or with another session's, an action
// of a role the person lacks, and the headers of every page.
func TestConsoleRefusals(t *testing.T) {
	l := startLedgerd(t)
	// The session cookie: HttpOnly, SameSite=Lax, and not Secure only
	// because this is dev mode on a loopback address.
	{
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		page, _ := get(t, c, l.base+"/console/connexion")
		m := regexp.MustCompile(`name="jeton" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no form token on the sign-in page")
		}
		resp := post(t, c, l.base+"/console/connexion/demo", url.Values{"jeton": {m[1]}, "personne": {"luc.auditor"}})
		var found bool
		for _, ck := range resp.Cookies() {
			if ck.Name == "console_session" {
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/console/" || ck.Secure {
					t.Errorf("session cookie %+v", ck)
				}
			}
		}
		if !found || resp.StatusCode != http.StatusSeeOther {
			t.Errorf("demo sign-in: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
		// Without the sign-in page's form token, no one signs in.
		if resp := post(t, c, l.base+"/console/connexion/demo", url.Values{"jeton": {"forged"}, "personne": {"luc.auditor"}}); resp.StatusCode != 403 {
			t.Errorf("demo sign-in with a forged token: %d", resp.StatusCode)
		}
	}
	marie := signedInClient(t, l.base, "marie.preparer")
	claire := signedInClient(t, l.base, "claire.controller")
	batch := l.base + "/console/lots/" + l.batchID

	page, resp := get(t, marie, batch)
	if resp.StatusCode != 200 {
		t.Fatalf("batch page: %d", resp.StatusCode)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	token := csrfOf(t, page)
	clairePage, _ := get(t, claire, l.base+"/console/a-traiter")
	claireToken := csrfOf(t, clairePage)
	// The last verification of the books: none yet, then the API's.
	if !strings.Contains(clairePage, "Dernière vérification du grand livre : jamais lancée depuis le démarrage") {
		t.Error("À traiter does not say the books were never verified")
	}
	if st := apiCall(t, "GET", l.base+"/v1/verify", "", nil); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if page, _ := get(t, claire, l.base+"/console/a-traiter"); !regexp.MustCompile(`Dernière vérification du grand livre : \d\d/\d\d/\d{4} à \d\d:\d\d, conforme`).MatchString(page) {
		t.Error("À traiter does not say the books were verified and found right")
	}

	for _, c := range []struct {
		name, token string
		want        int
	}{{"NoToken", "", 403}, {"WrongToken", "forged", 403}, {"OtherSessionsToken", claireToken, 403}} {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, marie, batch+"/submit", url.Values{"csrf": {c.token}, "texte": {"x"}})
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
	// Claire (controller) sees no action, and is refused one anyway.
	body, _ := get(t, claire, batch)
	if strings.Contains(body, "action-submit") {
		t.Error("a controller is shown the submit action")
	}
	if resp := post(t, claire, batch+"/submit", url.Values{"csrf": {claireToken}}); resp.StatusCode != 403 {
		t.Errorf("a controller's submit: %d, want 403", resp.StatusCode)
	}
	// The trail is the auditors': marie has no link to it, and is refused.
	if page, _ := get(t, marie, l.base+"/console/a-traiter"); strings.Contains(page, `href="/console/journal"`) {
		t.Error("a preparer is shown the audit trail")
	}
	if _, resp := get(t, marie, l.base+"/console/journal"); resp.StatusCode != 403 {
		t.Errorf("a preparer reads the trail: %d, want 403", resp.StatusCode)
	}
	var st struct {
		Status string `json:"status"`
	}
	apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID, "", &st)
	if st.Status != "draft" {
		t.Errorf("after refusals, batch %s, want draft", st.Status)
	}
	// The right token goes through.
	if resp := post(t, marie, batch+"/submit", url.Values{"csrf": {token}}); resp.StatusCode != 200 {
		t.Errorf("submit with the token: %d", resp.StatusCode)
	}
	apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID, "", &st)
	if st.Status != "pending_approval" {
		t.Errorf("after submit, batch %s, want pending_approval", st.Status)
	}
	// Approved and released through the API, its pain.001 file is
	// downloaded by an approver, and refused to the preparer, whose
	// page shows no link to it.
	for _, step := range []struct{ token, path string }{{approverToken1, "approve"}, {approverToken2, "approve"}, {approverToken1, "release"}} {
		if st := apiCallAs(t, step.token, "POST", l.base+"/v1/batches/"+l.batchID+"/"+step.path, `{}`, nil); st != 200 {
			t.Fatalf("%s: %d", step.path, st)
		}
	}
	var files struct {
		Files []struct {
			MsgID string `json:"msg_id"`
		} `json:"files"`
	}
	if st := apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID+"/files", "", &files); st != 200 || len(files.Files) != 1 {
		t.Fatalf("files: %d %+v", st, files)
	}
	paul := signedInClient(t, l.base, "paul.approver")
	download := l.base + "/console/virements/fichiers/" + files.Files[0].MsgID
	if page, _ := get(t, paul, l.base+"/console/virements"); !strings.Contains(page, `href="/console/virements/fichiers/`+files.Files[0].MsgID+`"`) {
		t.Error("the approver's transfers page has no download link")
	}
	xml, resp := get(t, paul, download)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/xml" || !strings.Contains(xml, "CstmrCdtTrfInitn") ||
		resp.Header.Get("X-Content-Sha256") == "" {
		t.Errorf("download: %d %s %.100q", resp.StatusCode, resp.Header.Get("Content-Type"), xml)
	}
	if page, _ := get(t, marie, l.base+"/console/virements"); strings.Contains(page, "/console/virements/fichiers/") {
		t.Error("the preparer is shown the download")
	}
	if _, resp := get(t, marie, download); resp.StatusCode != 403 {
		t.Errorf("the preparer's download: %d, want 403", resp.StatusCode)
	}

	// Signed out, the session is over: the batch page leads to sign-in.
	if resp := post(t, marie, l.base+"/console/deconnexion", url.Values{"csrf": {token}}); resp.StatusCode != 200 {
		t.Errorf("sign-out: %d", resp.StatusCode)
	}
	if _, resp := get(t, marie, batch); !strings.HasPrefix(resp.Request.URL.Path, "/console/connexion") {
		t.Errorf("after sign-out, at %s", resp.Request.URL)
	}
}

func signedInClient(t *testing.T, base, who string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	page, _ := get(t, c, base+"/console/connexion")
	m := regexp.MustCompile(`name="jeton" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token on the sign-in page")
	}
	resp := post(t, c, base+"/console/connexion/demo", url.Values{"jeton": {m[1]}, "personne": {who}, "suivant": {"/console/a-traiter"}})
	// A person of the budget role alone lands on the budget.
	if resp.StatusCode != 200 || (resp.Request.URL.Path != "/console/a-traiter" && !strings.HasSuffix(who, ".budget")) ||
		(strings.HasSuffix(who, ".budget") && resp.Request.URL.Path != "/console/budget") {
		t.Fatalf("demo sign-in of %s: %d at %s", who, resp.StatusCode, resp.Request.URL)
	}
	return c
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return m[1]
}

func get(t *testing.T, c *http.Client, u string) (string, *http.Response) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), resp
}

func post(t *testing.T, c *http.Client, u string, v url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestConsoleReconciliation: the batch is paid through the API; a
// controller imports, from the console, a statement booking its amount to
// the payee's account without its reference, confirms the suggestion the
// cascade makes, and undoes the match.
func TestConsoleReconciliation(t *testing.T) {
	l := startLedgerd(t)
	for _, step := range []struct{ token, path string }{{runToken, "submit"}, {approverToken1, "approve"}, {approverToken2, "approve"},
		{approverToken1, "release"}} {
		if st := apiCallAs(t, step.token, "POST", l.base+"/v1/batches/"+l.batchID+"/"+step.path, `{}`, nil); st != 200 {
			t.Fatalf("%s: %d", step.path, st)
		}
	}
	var files struct {
		Files []struct {
			ExecutionDate string `json:"execution_date"`
		} `json:"files"`
	}
	if st := apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID+"/files", "", &files); st != 200 || len(files.Files) != 1 {
		t.Fatalf("files: %d %+v", st, files)
	}
	tmpl, err := template.ParseFiles("testdata/camt053_suggestion.xml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]string{"Day": files.Files[0].ExecutionDate, "Account": "FR7630001007941234567890185",
		"Opening": "10000000.00", "Closing": "9999588.20", "Amount": "411.80", "IBAN": "FR7630004008230001073943676"}); err != nil {
		t.Fatal(err)
	}
	stmt := filepath.Join(t.TempDir(), "releve.xml")
	if err := os.WriteFile(stmt, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	demoSignIn(t, ctx, l.base, "claire.controller", "/console/rapprochement")
	checkPage(t, ctx, "rapprochement")
	run(t, ctx, "import the statement", chromedp.SetUploadFiles(chromedp.CSS("#releve"), []string{stmt}),
		chromedp.Click(chromedp.CSS("#importer")), chromedp.WaitVisible(chromedp.CSS("#importe")))
	if got := text(t, ctx, "#table-rapprochement tbody"); !strings.Contains(got, "Suggestion à confirmer") {
		t.Fatalf("exceptions after the import: %q", got)
	}
	checkPage(t, ctx, "rapprochement-import")
	run(t, ctx, "what waits for the controller", chromedp.Navigate(l.base+"/console/a-traiter"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "anomalie(s) de rapprochement") {
		t.Errorf("the controller's À traiter: %q", got)
	}
	checkPage(t, ctx, "a-traiter-controleur")
	run(t, ctx, "back to the reconciliation", chromedp.Navigate(l.base+"/console/rapprochement"), chromedp.WaitVisible(chromedp.CSS("#table-rapprochement")))
	// The suggestion is confirmed in its modal.
	confirm := firstID(t, ctx, `[id^="action-confirm-"]`)
	x := strings.TrimPrefix(confirm, "action-confirm-")
	openModal(t, ctx, "confirm-"+x)
	checkPage(t, ctx, "rapprochement-modale")
	submitModal(t, ctx, "confirm the suggestion", "#confirmer-confirm-"+x)
	if got := text(t, ctx, "#fait"); !strings.Contains(got, "suggestion a été confirmée") {
		t.Errorf("confirm: %q", got)
	}
	if got := text(t, ctx, "#table-rapprochements tbody"); !strings.Contains(got, "suggestion confirmée") || !strings.Contains(got, "claire.controller") {
		t.Errorf("matches after the confirmation: %q", got)
	}

	// The match is undone in its modal: the line is an exception again.
	undo := firstID(t, ctx, `[id^="action-undo-"]`)
	m := strings.TrimPrefix(undo, "action-undo-")
	openModal(t, ctx, "undo-"+m)
	run(t, ctx, "the undo's reason", chromedp.SendKeys(chromedp.CSS("#motif-undo-"+m), "Ligne attribuée à tort"))
	submitModal(t, ctx, "undo the match", "#confirmer-undo-"+m)
	if got := text(t, ctx, "#table-rapprochements tbody"); !strings.Contains(got, "défait par claire.controller") {
		t.Errorf("matches after the undo: %q", got)
	}

	// Matched by hand: the payment the cascade found is shown and ticked;
	// without a reason the form comes back marked, nothing done.
	match := firstID(t, ctx, `[id^="action-match-"]`)
	x = strings.TrimPrefix(match, "action-match-")
	openModal(t, ctx, "match-"+x)
	ticked, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#paiements-`+x+` input[type=checkbox]:checked').length`))
	if err != nil || ticked != 1 {
		t.Fatalf("the candidate payments ticked: %d %v", ticked, err)
	}
	submitModal(t, ctx, "match without a reason", "#confirmer-match-"+x)
	if got := text(t, ctx, "#erreur-motif-texte"); !strings.Contains(got, "Indiquez le motif") {
		t.Errorf("match without a reason: %q", got)
	}
	checkPage(t, ctx, "rapprochement-erreur")
	run(t, ctx, "match by hand", chromedp.SendKeys(chromedp.CSS("#erreur-motif"), "Virement retrouvé sur le relevé"),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS("#renvoyer")), chromedp.WaitVisible(chromedp.CSS("#fait")))
	if got := text(t, ctx, "#fait"); !strings.Contains(got, "rapprochée des paiements") {
		t.Errorf("match by hand: %q", got)
	}
	if got := text(t, ctx, "#table-rapprochements tbody"); !strings.Contains(got, "à la main") || !strings.Contains(got, "Virement retrouvé") {
		t.Errorf("matches after the match by hand: %q", got)
	}
	checkPage(t, ctx, "rapprochement-apres")
	run(t, ctx, "the resolved exceptions", chromedp.Navigate(l.base+"/console/rapprochement?statut=resolved"), chromedp.WaitVisible(chromedp.CSS("#table-rapprochement")))
	checkPage(t, ctx, "rapprochement-resolues")
	run(t, ctx, "a status of no name", chromedp.Navigate(l.base+"/console/rapprochement?statut=perdues"), chromedp.WaitVisible(chromedp.CSS("#statut-erreur")))
	checkPage(t, ctx, "rapprochement-statut-errone")

	// The auditor reads the page and sees no action.
	signOut(t, ctx)
	demoSignIn(t, ctx, l.base, "luc.auditor", "/console/rapprochement")
	run(t, ctx, "the auditor's reconciliation", chromedp.WaitVisible(chromedp.CSS("#rapprochements")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[id^="action-"], #importer').length`)); err != nil || n != 0 {
		t.Errorf("the auditor is offered %d actions (%v)", n, err)
	}
	checkPage(t, ctx, "rapprochement-auditeur")
	signOut(t, ctx)
	demoSignIn(t, ctx, l.base, "claire.controller", "/console/a-traiter")

	// November's batch, next to October's paid one: a new household, and
	// one whose amount went up with a child.
	var nov struct {
		BatchID string `json:"batch_id"`
	}
	if st := apiCall(t, "POST", l.base+"/v1/runs", `{"kind":"ada","period":"2026-11"}`, &nov); st != 201 {
		t.Fatalf("November's run: %d", st)
	}
	run(t, ctx, "November's batch", chromedp.Navigate(l.base+"/console/lots/"+nov.BatchID), chromedp.WaitVisible(chromedp.CSS("#changements")))
	changes := text(t, ctx, "main")
	for _, want := range []string{"Nouveaux foyers", "OFII-2026-000200", "Montants en hausse", "OFII-2026-000123"} {
		if !strings.Contains(changes, want) {
			t.Errorf("the changes since October lack %q", want)
		}
	}
	checkPage(t, ctx, "lot-changements")

	// Her file: the timeline, her payees' IBANs masked.
	run(t, ctx, "the beneficiaries", chromedp.Navigate(l.base+"/console/beneficiaires"), chromedp.WaitVisible(chromedp.CSS("#id")),
		chromedp.SendKeys(chromedp.CSS("#id"), "ofii-2026-000123"), chromedp.Click(chromedp.CSS("#chercher-beneficiaire")),
		chromedp.WaitVisible(chromedp.CSS("#beneficiaire")))
	file := text(t, ctx, "main")
	if !strings.Contains(file, "Amina Diallo") || !strings.Contains(file, "1 adulte(s), 1 enfant(s)") || strings.Contains(file, "FR7630004008230001073943676") {
		t.Errorf("the file of OFII-2026-000123: %q", file)
	}
	checkPage(t, ctx, "beneficiaire")
	// October's calendar: her rights open on the 3rd, every day from it
	// covered, and why; what was due and paid to her.
	run(t, ctx, "her October", chromedp.Navigate(l.base+"/console/beneficiaires?id=OFII-2026-000123&mois=2026-10"),
		chromedp.WaitVisible(chromedp.CSS("#table-calendrier")))
	if got := text(t, ctx, "#calendrier"); !strings.Contains(got, "octobre 2026") {
		t.Errorf("the calendar's month: %q", got)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "29 jour(s) ouvrant droit") || strings.Contains(got, "FR7630004008230001073943676") {
		t.Errorf("her October: %q", got)
	}
	if got := strings.ToLower(text(t, ctx, "#table-calendrier tbody")); strings.Count(got, "couvert") != 29 || strings.Count(got, "sans droits") != 2 ||
		!strings.Contains(got, "1 adulte, non hébergé, metropole") {
		t.Errorf("the calendar: %q", got)
	}
	if got := text(t, ctx, "#table-versements tbody"); !strings.Contains(got, "411,80") {
		t.Errorf("what was due and paid: %q", got)
	}
	checkPage(t, ctx, "beneficiaire-calendrier")
	run(t, ctx, "a month of no form", chromedp.Navigate(l.base+"/console/beneficiaires?id=OFII-2026-000123&mois=octobre"),
		chromedp.WaitVisible(chromedp.CSS("#mois-erreur")))
	checkPage(t, ctx, "beneficiaire-mois-errone")
	run(t, ctx, "an unknown beneficiary", chromedp.Navigate(l.base+"/console/beneficiaires?id=OFII-2026-999999"), chromedp.WaitVisible(chromedp.CSS("#id-erreur")))
	if got := text(t, ctx, "#id-erreur"); !strings.Contains(got, "Aucun bénéficiaire") {
		t.Errorf("unknown beneficiary: %q", got)
	}
	checkPage(t, ctx, "beneficiaire-inconnu")

	// The books: the trial balance, an account's balance, a code of no
	// account; and the dead letters.
	run(t, ctx, "the books", chromedp.Navigate(l.base+"/console/comptabilite?compte=bank:main"), chromedp.WaitVisible(chromedp.CSS("#solde-compte")))
	if got := text(t, ctx, "#balance-generale"); !strings.Contains(got, "bank:main") || !strings.Contains(got, "Total EUR") {
		t.Errorf("trial balance: %q", got)
	}
	checkPage(t, ctx, "comptabilite")
	run(t, ctx, "no such account", chromedp.Navigate(l.base+"/console/comptabilite?compte=nope:none"), chromedp.WaitVisible(chromedp.CSS("#compte-erreur")))
	checkPage(t, ctx, "comptabilite-compte-inconnu")
	run(t, ctx, "the dead letters", chromedp.Navigate(l.base+"/console/lettres-mortes"), chromedp.WaitVisible(chromedp.CSS("h1")))
	checkPage(t, ctx, "lettres-mortes")
}

// firstID is the id of the first element sel finds.
func firstID(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, err := chromedp.Run(c, chromedp.Evaluate[string](`(document.querySelector('`+sel+`') || {id: ""}).id`))
	if err != nil || id == "" {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("no element %s (%v): %.800s", sel, err, body)
	}
	return id
}

// submitModal clicks a modal's button sel and waits for the page it leads
// to: its notice, refusal or marked form.
func submitModal(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	run(t, ctx, what, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus, #form-erreur').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("h1")), chromedp.WaitReady(chromedp.CSS("#fait, #refus, #form-erreur")))
}

// TestConsoleReconciliationRefusals checks, without a browser, that the
// server refuses what the pages do not offer: an auditor's moves, an
// assignment to a name with a space and a match without a reason (the
// form again, nothing applied), an exception that does not exist, files
// that are no statement, and an upload without the form's token.
func TestConsoleReconciliationRefusals(t *testing.T) {
	l := startLedgerd(t)
	luc := signedInClient(t, l.base, "luc.auditor")
	claire := signedInClient(t, l.base, "claire.controller")
	page, _ := get(t, luc, l.base+"/console/rapprochement")
	lucToken := csrfOf(t, page)
	page, _ = get(t, claire, l.base+"/console/rapprochement")
	claireToken := csrfOf(t, page)
	id := "0b0c7c43-5d36-4a52-8b0e-6b8f0b5e0f11"
	exception := l.base + "/console/rapprochement/anomalies/" + id
	for _, c := range []struct {
		what   string
		client *http.Client
		u      string
		form   url.Values
		want   int
	}{
		{"an auditor's close", luc, exception, url.Values{"csrf": {lucToken}, "action": {"close"}, "motif": {"x"}}, http.StatusForbidden},
		{"an auditor's match", luc, exception, url.Values{"csrf": {lucToken}, "action": {"match"}, "autres": {"L1"}, "motif": {"x"}}, http.StatusForbidden},
		{"an auditor's undo", luc, l.base + "/console/rapprochement/rapprochements/" + id + "/defaire", url.Values{"csrf": {lucToken}, "motif": {"x"}}, http.StatusForbidden},
		{"an assignment to a name with a space", claire, exception, url.Values{"csrf": {claireToken}, "action": {"assign"}, "responsable": {"a b"}}, http.StatusBadRequest},
		{"a match without a reason", claire, exception, url.Values{"csrf": {claireToken}, "action": {"match"}, "autres": {"L1"}}, http.StatusBadRequest},
		{"a move of no name", claire, exception, url.Values{"csrf": {claireToken}, "action": {"delete"}}, http.StatusBadRequest},
		{"closing an exception that does not exist", claire, exception, url.Values{"csrf": {claireToken}, "action": {"close"}, "motif": {"Rien à passer"}}, http.StatusNotFound},
		{"an exception of no id", claire, l.base + "/console/rapprochement/anomalies/zzz", url.Values{"csrf": {claireToken}, "action": {"close"}, "motif": {"x"}}, http.StatusNotFound},
		{"a close without the form's token", claire, exception, url.Values{"action": {"close"}, "motif": {"x"}}, http.StatusForbidden},
		{"an import that is not a file upload", claire, l.base + "/console/rapprochement/releves", url.Values{"csrf": {claireToken}}, http.StatusBadRequest},
	} {
		if resp := post(t, c.client, c.u, c.form); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.what, resp.StatusCode, c.want)
		}
	}
	if body, resp := get(t, claire, l.base+"/console/rapprochement?statut=perdues"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="statut-erreur"`) {
		t.Errorf("an exception status of no name: %d, want 400", resp.StatusCode)
	}
	for name, content := range map[string]string{"NotAStatement": "<Document>pas un relevé</Document>", "Empty": ""} {
		t.Run(name, func(t *testing.T) {
			body, status := upload(t, claire, l.base+"/console/rapprochement/releves", claireToken, content)
			if status != http.StatusBadRequest || !strings.Contains(body, `id="releve-erreur"`) {
				t.Errorf("status %d, want 400 with the file's field marked", status)
			}
		})
	}
	if _, status := upload(t, claire, l.base+"/console/rapprochement/releves", "forged", "x"); status != http.StatusForbidden {
		t.Errorf("an upload without the form's token: %d, want 403", status)
	}
	page, _ = get(t, claire, l.base+"/console/rapprochement")
	if !strings.Contains(page, "Aucune anomalie.") || !strings.Contains(page, "Aucun rapprochement.") {
		t.Error("a refused move or import left a trace on the page")
	}
	if body, resp := get(t, claire, l.base+"/console/beneficiaires?id=OFII-2026-000123&mois=2026-13"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="mois-erreur"`) {
		t.Errorf("a month of no calendar: %d", resp.StatusCode)
	}
}

// upload sends content as the statement file of the import form.
func upload(t *testing.T, c *http.Client, u, token, content string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("csrf", token)
	f, err := w.CreateFormFile("releve", "releve.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte(content))
	_ = w.Close()
	resp, err := c.Post(u, w.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.StatusCode
}
