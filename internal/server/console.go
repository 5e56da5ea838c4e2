package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/console"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/transport/kafka"
)

// consoleServices are the services the console acts through: the very
// ones the staff API calls.
type consoleServices struct {
	pool     db.Beginner
	batches  console.BatchReader
	workflow console.BatchWorkflow
	files    console.PaymentFiles
	excs     console.PaymentExceptions
	audit    console.AuditTrail
	recon    console.Reconciliation
	people   interface {
		console.BeneficiaryReader
		console.DeadLetterReader
	}
	books    console.Books
	budget   console.Budget
	gateway  *bank.HTTPGateway
	consumer *kafka.Consumer
	mode     Mode
	// now is the server's clock: the sessions' and the budget's current
	// year.
	now func() time.Time
	// lastVerify is the last verification of the books by this process.
	lastVerify func() verifyRun
}

// withConsole returns api with the staff console mounted under /console/
// when the settings enable it, and api alone otherwise, saying so in the
// log.
func withConsole(ctx context.Context, cfg config.Config, log *slog.Logger, api http.Handler, s consoleServices) (http.Handler, error) {
	if !cfg.Console.Enabled {
		log.Info("staff console off: CONSOLE_OIDC_ISSUER is not set and dev mode is off")
		return api, nil
	}
	c, err := console.New(ctx, console.Options{Config: cfg.Console, Dev: cfg.Dev, Pool: s.pool, Batches: s.batches,
		Workflow: s.workflow, Files: s.files, Exceptions: s.excs, Audit: s.audit, Reconcile: s.recon, Beneficiaries: s.people, Books: s.books, DeadLetters: s.people, Budget: s.budget, BudgetMinMonths: cfg.BudgetMinMonths, Now: s.now, BankAccount: cfg.DebtorIBAN, Logger: log, State: s.state})
	if err != nil {
		return nil, err
	}
	log.Info("staff console under /console/", "oidc_issuer", cfg.Console.Issuer, "demo_staff", cfg.Dev)
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	mux.Handle("/", api)
	return mux, nil
}

// state is how the service stands, for the console's "À traiter" page.
func (s consoleServices) state(context.Context) []console.StateItem {
	var out []console.StateItem
	if s.lastVerify != nil {
		out = append(out, verifyState(s.lastVerify()))
	}
	if s.mode.Dev {
		var what []string
		if s.mode.Bank == BankSimulator {
			what = append(what, "les fichiers de virement vont au simulateur de banque intégré, qui ne paie personne")
		}
		if s.mode.Kafka == KafkaEmbedded {
			what = append(what, "les événements d'éligibilité sont lus sur le courtier Kafka intégré")
		}
		if len(what) == 0 {
			what = append(what, "la banque et Kafka sont les vrais, aucun simulateur ne les remplace")
		}
		out = append(out, console.StateItem{Label: "Mode de développement", Value: strings.Join(what, " ; "), Severe: true})
	}
	if s.gateway != nil {
		states := s.gateway.BreakerStates()
		names := make([]string, 0, len(states))
		for n := range states {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v, severe := "fermé : la banque répond", false
			switch states[n] {
			case "open":
				v, severe = "ouvert : la banque ne répond plus, les envois attendent", true
			case "half-open":
				v, severe = "entrouvert : un essai vers la banque est en cours", true
			}
			out = append(out, console.StateItem{Label: "Disjoncteur de la banque (" + n + ")", Value: v, Severe: severe})
		}
	}
	if s.consumer != nil {
		st := s.consumer.Status()
		if st.Lag != nil {
			out = append(out, console.StateItem{Label: "Événements d'éligibilité en attente", Value: strconv.FormatInt(*st.Lag, 10), Severe: *st.Lag > 10000})
		}
		out = append(out, console.StateItem{Label: "Événements d'éligibilité appliqués depuis le démarrage", Value: strconv.FormatInt(st.Applied, 10)})
		if st.DeadLetters > 0 {
			out = append(out, console.StateItem{Label: "Lettres mortes depuis le démarrage", Value: fmt.Sprint(st.DeadLetters), Severe: true})
		}
		if st.LastError != "" {
			out = append(out, console.StateItem{Label: "Dernière erreur du consommateur", Value: st.LastError, Severe: true})
		}
	}
	return out
}

// verifyState says in French when the books were last verified by this
// process and what it found; a verification that failed is to watch.
func verifyState(v verifyRun) console.StateItem {
	item := console.StateItem{Label: "Dernière vérification du grand livre"}
	switch {
	case v.At.IsZero():
		item.Value = "jamais lancée depuis le démarrage"
	case v.Outcome == verifyOK:
		item.Value = console.DateTime(v.At) + ", conforme"
	case v.Outcome == verifyProblems:
		item.Value, item.Severe = console.DateTime(v.At)+", "+strconv.Itoa(v.Problems)+" anomalie(s) trouvée(s)", true
	default:
		item.Value, item.Severe = console.DateTime(v.At)+", n'a pas pu aboutir", true
	}
	return item
}
