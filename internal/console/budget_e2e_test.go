package console_test

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/console"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/payments"
)

// budgetClock pins ledgerd's clock to 4 December 2026 (and on), so that
// appropriations of 2026 may still be recorded whenever the tests run.
func budgetClock() server.Option {
	start, t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), time.Now()
	return server.WithClock(func() time.Time { return start.Add(time.Since(t0)) })
}

// amend records an amendment through the API with budgetToken1 and
// confirms it with budgetToken2.
func amend(t *testing.T, base, scheme, kind, amount, ref string) {
	t.Helper()
	var a payments.Amendment
	body := `{"scheme":"` + scheme + `","year":2026,"kind":"` + kind + `","amount":"` + amount + `","reference":"` + ref + `","reason":"test"}`
	if st := apiCallAs(t, budgetToken1, "POST", base+"/v1/budget/amendments", body, &a); st != 201 {
		t.Fatalf("record %s: %d", ref, st)
	}
	if st := apiCallAs(t, budgetToken2, "POST", base+"/v1/budget/amendments/"+a.ID.String()+"/confirm", "", nil); st != 200 {
		t.Fatalf("confirm %s: %d", ref, st)
	}
}

// batchNet is the net of the test's batch, read through the API.
func batchNet(t *testing.T, l ledgerd) decimal.Decimal {
	t.Helper()
	var b payments.Batch
	if st := apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID, "", &b); st != 200 {
		t.Fatalf("batch: %d", st)
	}
	return b.Total.Net
}

// budgetReport is the API's budget of 2026.
func budgetReport(t *testing.T, base string) payments.BudgetReport {
	t.Helper()
	var rep payments.BudgetReport
	if st := apiCallAs(t, approverToken1, "GET", base+"/v1/budget?year=2026", "", &rep); st != 200 {
		t.Fatalf("budget: %d", st)
	}
	return rep
}

// TestConsoleBudget drives the budget in chromium: October's batch is
// beyond the appropriation of ADA, and an approver of the budget role is
// told by how much, and forces her approval with a reason; given its
// second approval within a larger appropriation, the budget page shows
// the API's figures to the cent and warns of the short cover; a person of
// the budget records an amendment (a bad amount marked on its field
// first), another confirms it; an auditor reads the page, is offered no
// action, and reads in the trail who forced the approval and why.
func TestConsoleBudget(t *testing.T) {
	l := startLedgerd(t, budgetClock())
	net := batchNet(t, l)
	if net.LessThan(decimal.NewFromInt(100)) {
		t.Fatalf("the batch's net %s is too small for the test", net)
	}
	amend(t, l.base, "ada", "initial", net.Sub(decimal.NewFromInt(50)).StringFixed(2), "LFI 2026")
	if st := apiCall(t, "POST", l.base+"/v1/batches/"+l.batchID+"/submit", `{}`, nil); st != 200 {
		t.Fatalf("submit: %d", st)
	}
	ctx := browser(t)
	batchURL := l.base + "/console/lots/" + l.batchID

	// Béatrice approves and holds the budget role: her approval is refused
	// for the budget, in words and amounts; she may force it, with a reason.
	run(t, ctx, "sign in as an approver of the budget", chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS("#connexion-agence")),
		chromedp.Click(chromedp.CSS("#connexion-agence")), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "bea"), chromedp.SendKeys(chromedp.CSS("#password"), "bea-password"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#statut-lot")))
	act(t, ctx, "approve", "")
	refusal := text(t, ctx, "#refus")
	for _, want := range []string{"Les crédits ne suffisent pas", "Allocation pour demandeur d'asile (ADA), exercice 2026",
		"le lot engage " + console.Euros(net), "disponibles sont de " + console.Euros(net.Sub(decimal.NewFromInt(50))), console.Euros(decimal.NewFromInt(50)) + " au-delà"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the refusal for the budget lacks %q: %s", want, refusal)
		}
	}
	checkPage(t, ctx, "lot-refus-budget")
	openModal(t, ctx, "approve")
	run(t, ctx, "force without a reason", chromedp.Click(chromedp.CSS(`label[for="forcer-approve"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus, #form-erreur').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS("#confirmer-approve")), chromedp.WaitVisible(chromedp.CSS("#motif-credits-erreur-msg")))
	if got := text(t, ctx, "#motif-credits-erreur-msg"); !strings.Contains(got, "Indiquez pourquoi vous forcez") {
		t.Errorf("a forced approval without a reason: %q", got)
	}
	checkPage(t, ctx, "lot-forcer-sans-motif")
	run(t, ctx, "force with a reason", chromedp.SendKeys(chromedp.CSS("#motif-credits-erreur"), "Paiement dû aux demandeurs"),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS(`#form-erreur button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#fait")))
	if got := text(t, ctx, "#fait"); !strings.Contains(got, "approbation a été enregistrée") {
		t.Errorf("the forced approval: %q", got)
	}
	signOut(t, ctx)

	// Within a larger appropriation, October's batch gets its second
	// approval: 10.00 stay available, short of two months at its pace.
	amend(t, l.base, "ada", "supplementary", "60.00", "DM 1")
	for _, tok := range []string{approverToken1} {
		if st := apiCallAs(t, tok, "POST", l.base+"/v1/batches/"+l.batchID+"/approve", `{}`, nil); st != 200 {
			t.Fatalf("approve: %d", st)
		}
	}
	rep := budgetReport(t, l.base)
	var ada payments.BudgetLine
	for _, line := range rep.Lines {
		if line.Scheme == payments.SchemeADA {
			ada = line
		}
	}
	if !ada.Appropriation.Equal(net.Add(decimal.NewFromInt(10))) || !ada.Committed.Equal(net) || !ada.Available.Equal(decimal.NewFromInt(10)) {
		t.Fatalf("the API's budget of ADA: %+v, the batch's net %s", ada, net)
	}

	demoSignIn(t, ctx, l.base, "agnes.budget", "/console/budget?annee=2026")
	row := strings.ToLower(text(t, ctx, "#budget-ada"))
	for _, want := range []string{console.Euros(ada.Appropriation), console.Euros(ada.Committed), console.Euros(ada.Spent), "10,00\u202f€",
		console.Euros(ada.MonthlyRun), console.Euros(ada.Forecast), strings.Replace(ada.MonthsOfCover.StringFixed(2), ".", ",", 1), "insuffisant"} {
		if !strings.Contains(row, want) {
			t.Errorf("the ADA line lacks %q: %s", want, row)
		}
	}
	if got := text(t, ctx, "#alerte-couverture"); !strings.Contains(got, "Allocation pour demandeur d'asile") {
		t.Errorf("the cover alert: %q", got)
	}
	if got := text(t, ctx, "#table-modifications tbody"); !strings.Contains(got, "LFI 2026") || !strings.Contains(got, "api.budget1") ||
		!strings.Contains(got, "api.budget2") || !strings.Contains(got, "Complémentaire") {
		t.Errorf("the amendments of 2026: %q", got)
	}
	checkPage(t, ctx, "budget")

	// Agnès records an amendment: three decimals are marked on the amount.
	openModal(t, ctx, "amend")
	checkPage(t, ctx, "budget-modale")
	run(t, ctx, "a bad amount",
		chromedp.SetValue(chromedp.CSS("#modale-dispositif"), "return"),
		chromedp.SetValue(chromedp.CSS("#modale-exercice"), "2026"),
		chromedp.SetValue(chromedp.CSS("#modale-nature"), "initial"),
		chromedp.SetValue(chromedp.CSS("#modale-montant"), "5 000,555"),
		chromedp.SetValue(chromedp.CSS("#modale-reference"), "LFI 2026 retour"),
		chromedp.SetValue(chromedp.CSS("#modale-motif"), "Crédits initiaux de l'aide au retour"))
	submitModal(t, ctx, "record with a bad amount", "#confirmer-amend")
	if got := text(t, ctx, "#montant-erreur"); !strings.Contains(got, "plus de deux décimales") {
		t.Errorf("three decimals: %q", got)
	}
	checkPage(t, ctx, "budget-montant-errone")
	run(t, ctx, "the right amount", chromedp.SetValue(chromedp.CSS("#montant"), "5 000,55"),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#fait, #refus, #form-erreur').forEach(e => e.remove())`),
		chromedp.Click(chromedp.CSS("#renvoyer")), chromedp.WaitVisible(chromedp.CSS("#fait")))
	if got := text(t, ctx, "#table-modifications tbody"); !strings.Contains(got, "5\u202f000,55\u202f€") || !strings.Contains(got, "À confirmer par une autre personne") {
		t.Errorf("the recorded amendment: %q", got)
	}
	signOut(t, ctx)

	// Henri confirms it: the appropriation of the return aid is open.
	demoSignIn(t, ctx, l.base, "henri.budget", "/console/budget?annee=2026")
	confirm := firstID(t, ctx, `#table-modifications button[id^="confirmer-"]`)
	run(t, ctx, "confirm", chromedp.Click(chromedp.CSS("#"+confirm), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS("#fait")))
	if got := text(t, ctx, "#fait"); !strings.Contains(got, "confirmée") {
		t.Errorf("confirm: %q", got)
	}
	if got := text(t, ctx, "#budget-return"); !strings.Contains(got, "5\u202f000,55\u202f€") {
		t.Errorf("the return aid after the confirmation: %q", got)
	}
	checkPage(t, ctx, "budget-confirme")
	signOut(t, ctx)

	// Luc, auditor, reads it and is offered no action.
	demoSignIn(t, ctx, l.base, "luc.auditor", "/console/budget?annee=2026")
	run(t, ctx, "the auditor's budget", chromedp.WaitVisible(chromedp.CSS("#table-budget")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[id^="action-"], [id^="confirmer-"], form[method="post"][action^="/console/budget"]').length`)); err != nil || n != 0 {
		t.Errorf("the auditor is offered %d actions (%v)", n, err)
	}
	checkPage(t, ctx, "budget-auditeur")
	// The trail names who forced the approval, and why.
	run(t, ctx, "the batch's trail", chromedp.Navigate(l.base+"/console/journal?objet=batch&id="+l.batchID), chromedp.WaitVisible(chromedp.CSS("#table-journal")))
	if got := text(t, ctx, "#table-journal tbody"); !strings.Contains(got, "Dépassement des crédits forcé") || !strings.Contains(got, "bea") ||
		!strings.Contains(got, "Paiement dû aux demandeurs") {
		t.Errorf("the trail of the forced approval: %q", got)
	}
}

// TestConsoleBudgetRefusals checks, without a browser, what the budget's
// pages refuse: a role that may not read or amend, even with a forged
// form; a form without its session's token; the recorder's own
// confirmation; the bad values of the form, each on its field; a budget
// override asked by an approver without the budget role. The CSV is the
// API's budget, written as `ledgerctl budget show --csv` writes it.
func TestConsoleBudgetRefusals(t *testing.T) {
	l := startLedgerd(t, budgetClock())
	agnes := signedInClient(t, l.base, "agnes.budget")
	henri := signedInClient(t, l.base, "henri.budget")
	luc := signedInClient(t, l.base, "luc.auditor")
	marie := signedInClient(t, l.base, "marie.preparer")
	paul := signedInClient(t, l.base, "paul.approver")
	budget := l.base + "/console/budget"
	tokenOf := func(c *http.Client, u string) string {
		page, _ := get(t, c, u)
		return csrfOf(t, page)
	}
	agnesToken, henriToken, lucToken := tokenOf(agnes, budget+"?annee=2026"), tokenOf(henri, budget+"?annee=2026"), tokenOf(luc, budget+"?annee=2026")
	marieToken := tokenOf(marie, l.base+"/console/a-traiter")

	if page, _ := get(t, marie, l.base+"/console/a-traiter"); strings.Contains(page, `href="/console/budget"`) {
		t.Error("a preparer is shown the budget")
	}
	if page, _ := get(t, luc, l.base+"/console/a-traiter"); !strings.Contains(page, `href="/console/budget"`) {
		t.Error("an auditor is not shown the budget")
	}
	// Agnès holds the budget role alone: as in the API, the pages open to
	// every other role are not hers.
	if page, _ := get(t, agnes, budget); strings.Contains(page, `href="/console/lots"`) || !strings.Contains(page, `href="/console/budget"`) {
		t.Error("a person of the budget role alone: the batches offered, or the budget not")
	}
	for _, p := range []string{"/console/lots", "/console/lots/" + l.batchID, "/console/beneficiaires?id=OFII-2026-000123", "/console/a-traiter"} {
		if _, resp := get(t, agnes, l.base+p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a person of the budget role alone reads %s: %d, want 403", p, resp.StatusCode)
		}
	}
	if _, resp := get(t, marie, budget); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a preparer reads the budget: %d, want 403", resp.StatusCode)
	}
	if body, resp := get(t, luc, budget+"?annee=2026"); resp.StatusCode != 200 || strings.Contains(body, "action-amend") {
		t.Errorf("the auditor's budget: %d, the amendment offered: %v", resp.StatusCode, strings.Contains(body, "action-amend"))
	}
	if body, resp := get(t, luc, budget+"?annee=deux"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="annee-erreur"`) {
		t.Errorf("a year of no form: %d", resp.StatusCode)
	}

	good := func(token string) url.Values {
		return url.Values{"csrf": {token}, "annee": {"2026"}, "dispositif": {"ada"}, "exercice": {"2026"}, "nature": {"initial"},
			"montant": {"1 234,56"}, "reference": {"LFI 2026"}, "motif": {"Crédits initiaux"}}
	}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for key, vs := range v {
			out[key] = vs
		}
		out.Set(k, val)
		return out
	}
	record := budget + "/modifications"
	for _, c := range []struct {
		what   string
		client *http.Client
		form   url.Values
		want   int
		marked string // the field marked, with its message
	}{
		{"an auditor's forged form", luc, good(lucToken), http.StatusForbidden, ""},
		{"a preparer's forged form", marie, good(marieToken), http.StatusForbidden, ""},
		{"no form token", agnes, with(good(agnesToken), "csrf", ""), http.StatusForbidden, ""},
		{"another session's token", agnes, good(henriToken), http.StatusForbidden, ""},
		{"three decimals", agnes, with(good(agnesToken), "montant", "1234,567"), http.StatusBadRequest, `id="montant-erreur">Le montant a plus de deux décimales`},
		{"a negative amount", agnes, with(good(agnesToken), "montant", "-10,00"), http.StatusBadRequest, `id="montant-erreur">Le montant doit être positif`},
		{"no amount", agnes, with(good(agnesToken), "montant", "mille"), http.StatusBadRequest, `id="montant-erreur">Indiquez un montant`},
		{"a past year", agnes, with(good(agnesToken), "exercice", "2025"), http.StatusBadRequest, `id="exercice-erreur">L&#39;exercice doit être`},
		{"a scheme of no name", agnes, with(good(agnesToken), "dispositif", "cantine"), http.StatusBadRequest, `id="dispositif-erreur">Choisissez un dispositif`},
		{"no reason", agnes, with(good(agnesToken), "motif", " "), http.StatusBadRequest, `id="motif-erreur">Ce champ est obligatoire`},
	} {
		resp, err := c.client.PostForm(record, c.form)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || (c.marked != "" && !strings.Contains(b.String(), c.marked)) {
			t.Errorf("%s: %d, want %d with %q marked", c.what, resp.StatusCode, c.want, c.marked)
		}
	}
	var page string
	if page, _ = get(t, henri, budget+"?annee=2026"); !strings.Contains(page, "Aucune modification des crédits de 2026.") {
		t.Fatal("a refused form recorded an amendment")
	}

	// Recorded by Agnès; she may not confirm it, nor may the auditor.
	if resp := post(t, agnes, record, good(agnesToken)); resp.StatusCode != 200 {
		t.Fatalf("record: %d", resp.StatusCode)
	}
	page, _ = get(t, agnes, budget+"?annee=2026")
	m := regexp.MustCompile(`id="modification-([0-9a-f-]{36})"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the recorded amendment is not listed")
	}
	confirm := budget + "/modifications/" + m[1] + "/confirmer"
	if strings.Contains(page, `id="confirmer-`+m[1]+`"`) {
		t.Error("the recorder is offered the confirmation")
	}
	resp, err := agnes.PostForm(confirm, url.Values{"csrf": {agnesToken}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(b.String(), "une autre personne doit la confirmer") {
		t.Errorf("the recorder's confirmation: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		what   string
		client *http.Client
		token  string
	}{{"the auditor's", luc, lucToken}, {"without the token", henri, ""}, {"with another session's token", henri, agnesToken}} {
		if resp := post(t, c.client, confirm, url.Values{"csrf": {c.token}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a confirmation %s: %d, want 403", c.what, resp.StatusCode)
		}
	}
	if rep := budgetReport(t, l.base); !rep.Lines[0].Appropriation.IsZero() {
		t.Fatalf("a refused confirmation posted: %+v", rep.Lines[0])
	}
	if resp := post(t, henri, confirm, url.Values{"csrf": {henriToken}}); resp.StatusCode != 200 {
		t.Fatalf("Henri's confirmation: %d", resp.StatusCode)
	}
	rep := budgetReport(t, l.base)
	if rep.Lines[0].Scheme != payments.SchemeADA || !rep.Lines[0].Appropriation.Equal(decimal.RequireFromString("1234.56")) {
		t.Errorf("after the confirmation: %+v", rep.Lines[0])
	}

	// The download is the API's budget as CSV.
	csv, resp := get(t, luc, budget+"/export.csv?annee=2026")
	var want bytes.Buffer
	if err := payments.WriteBudgetCSV(&want, rep); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || csv != want.String() {
		t.Errorf("the CSV: %d %s\n%s\nwant\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), csv, want.String())
	}
	if _, resp := get(t, marie, budget+"/export.csv?annee=2026"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a preparer's download: %d, want 403", resp.StatusCode)
	}

	// Paul approves without the budget role: no override offered, and a
	// forged one refused.
	if st := apiCall(t, "POST", l.base+"/v1/batches/"+l.batchID+"/submit", `{}`, nil); st != 200 {
		t.Fatalf("submit: %d", st)
	}
	page, _ = get(t, paul, l.base+"/console/lots/"+l.batchID)
	if !strings.Contains(page, `id="action-approve"`) || strings.Contains(page, `name="forcer"`) {
		t.Error("an approver without the budget role: the approval not offered, or the override offered")
	}
	if resp := post(t, paul, l.base+"/console/lots/"+l.batchID+"/approve", url.Values{"csrf": {csrfOf(t, page)}, "forcer": {"oui"},
		"motif_credits": {"urgence"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a forged override: %d, want 403", resp.StatusCode)
	}
	var st struct {
		Status string `json:"status"`
	}
	apiCall(t, "GET", l.base+"/v1/batches/"+l.batchID, "", &st)
	if st.Status != "pending_approval" {
		t.Errorf("after the forged override, batch %s, want pending_approval", st.Status)
	}
}
