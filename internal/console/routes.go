package console

import (
	"net/http"

	httptransport "github.com/ofii/allowances/transport/http"
)

// The console's addresses. Every page has its own, to be shared.
const (
	pathRoot      = "/console/"
	pathSignIn    = "/console/connexion"
	pathDemo      = "/console/connexion/demo"
	pathAuthLogin = "/console/auth/login"
	pathCallback  = "/console/auth/callback"
	pathSignOut   = "/console/deconnexion"
	pathTodo      = "/console/a-traiter"
	pathBatches   = "/console/lots"
	pathTransfers = "/console/virements"
	pathJournal   = "/console/journal"
	pathRecon     = "/console/rapprochement"
	pathPeople    = "/console/beneficiaires"
	pathBooks     = "/console/comptabilite"
	pathDead      = "/console/lettres-mortes"
	pathBudget    = "/console/budget"
)

// everyone are the roles of the pages open to every person signed in: the
// API's AllRoles. The budget role is held beside one of them; a person of
// the budget role alone sees the budget's pages only, as in the API.
var everyone = roleNames(httptransport.AllRoles())

// anySession lets every person signed in through, whatever their roles
// (signing out).
var anySession = []string{}

// landing is the page a person lands on: "À traiter", or the budget for a
// person of the budget role alone.
func landing(s *Session) string {
	if !s.Has(everyone...) && s.Has(roleNames(httptransport.BudgetReaders)...) {
		return pathBudget
	}
	return pathTodo
}

// navItem is one entry of the main navigation.
type navItem struct {
	Label string
	Path  string
	// Roles may see it; empty: everyone.
	Roles []string
}

// navigation is the main navigation, in the order shown; a page appears
// only to the roles it lists.
var navigation = []navItem{
	{Label: "À traiter", Path: pathTodo},
	{Label: "Lots", Path: pathBatches},
	{Label: "Virements", Path: pathTransfers},
	{Label: "Rapprochement", Path: pathRecon, Roles: roleNames(httptransport.ReconReaders)},
	{Label: "Bénéficiaires", Path: pathPeople},
	{Label: "Comptabilité", Path: pathBooks},
	{Label: "Budget", Path: pathBudget, Roles: roleNames(httptransport.BudgetReaders)},
	{Label: "Lettres mortes", Path: pathDead},
	{Label: "Journal", Path: pathJournal, Roles: roleNames(httptransport.AuditReaders)},
}

// routes registers every page and action.
func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET "+pathRoot+"{$}", func(w http.ResponseWriter, r *http.Request) {
		next := pathTodo
		if s := c.session(r); s != nil {
			next = landing(s)
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	m.HandleFunc("GET "+pathSignIn, c.signIn)
	m.HandleFunc("POST "+pathDemo, c.demoSignIn)
	m.HandleFunc("GET "+pathAuthLogin, c.authLogin)
	m.HandleFunc("GET "+pathCallback, c.authCallback)
	m.Handle("POST "+pathSignOut, c.signedIn(anySession, c.signOut))

	m.Handle("GET "+pathTodo, c.signedIn(nil, c.todoPage))
	m.Handle("GET "+pathBatches, c.signedIn(nil, c.batchesPage))
	m.Handle("GET "+pathBatches+"/{id}", c.signedIn(nil, c.batchPage))
	m.Handle("POST "+pathBatches+"/{id}/{action}", c.signedIn(nil, c.batchAction))
	m.Handle("GET "+pathTransfers, c.signedIn(nil, c.transfersPage))
	m.Handle("GET "+pathTransfers+"/fichiers/{msgid}", c.signedIn(roleNames(httptransport.FileReaders), c.fileDownload))
	m.Handle("GET "+pathTransfers+"/anomalies/{id}", c.signedIn(nil, c.exceptionPage))
	m.Handle("POST "+pathTransfers+"/anomalies/{id}/corriger", c.signedIn(roleNames(httptransport.PayeeCorrectors), c.correctPayee))
	m.Handle("POST "+pathTransfers+"/anomalies/{id}/clore", c.signedIn(roleNames(httptransport.ExceptionClosers), c.closeException))
	m.Handle("POST "+pathTransfers+"/nouvel-envoi", c.signedIn(roleNames(httptransport.PayeeCorrectors), c.reissue))
	m.Handle("GET "+pathRecon, c.signedIn(roleNames(httptransport.ReconReaders), c.reconPage))
	m.Handle("POST "+pathRecon+"/releves", c.signedIn(roleNames(httptransport.StatementImporters), c.importStatement))
	m.Handle("POST "+pathRecon+"/anomalies/{id}", c.signedIn(roleNames(httptransport.ReconReaders), c.reconAction))
	m.Handle("POST "+pathRecon+"/rapprochements/{id}/defaire", c.signedIn(roleNames(httptransport.Reconcilers), c.undoMatch))
	m.Handle("GET "+pathPeople, c.signedIn(nil, c.beneficiaryPage))
	m.Handle("GET "+pathBooks, c.signedIn(nil, c.booksPage))
	m.Handle("GET "+pathDead, c.signedIn(nil, c.deadLettersPage))
	m.Handle("GET "+pathBudget, c.signedIn(roleNames(httptransport.BudgetReaders), c.budgetPage))
	m.Handle("GET "+pathBudget+"/export.csv", c.signedIn(roleNames(httptransport.BudgetReaders), c.budgetCSV))
	m.Handle("POST "+pathBudget+"/modifications", c.signedIn(roleNames(httptransport.BudgetAmenders), c.recordAmendment))
	m.Handle("POST "+pathBudget+"/modifications/{id}/confirmer", c.signedIn(roleNames(httptransport.BudgetAmenders), c.confirmAmendment))
	m.Handle("GET "+pathJournal, c.signedIn(roleNames(httptransport.AuditReaders), c.journalPage))
	m.HandleFunc(pathRoot, func(w http.ResponseWriter, r *http.Request) {
		c.refuse(w, r, c.session(r), http.StatusNotFound, "Cette page n'existe pas.")
	})
}
