// Package banking wires the bank gateway and the approval workflow from the
// settings, for ledgerd and ledgerctl alike: the HTTP gateway of BANK_URL,
// or, in dev mode when it is unset, a bank simulator embedded in the process.
package banking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// Bank is the gateway to the bank, and the embedded simulator when there is
// one.
type Bank struct {
	Gateway *bank.HTTPGateway
	// Sim is the embedded simulator, nil when BANK_URL names a bank.
	Sim *banksim.Bank
	// URL is the base URL the gateway talks to.
	URL string
	srv *http.Server
}

// SimOption adjusts the embedded simulator's configuration.
type SimOption func(*banksim.Config)

// Open returns the gateway the settings name. Without BANK_URL, in dev mode
// only, it starts a bank simulator on BANK_EMBEDDED_ADDR, holding the
// debtor's account with an opening balance of 10,000,000.00 EUR, which opts
// may change; outside dev mode a missing BANK_URL is an error. Close
// releases it.
func Open(cfg config.Config, log *slog.Logger, reg prometheus.Registerer, opts ...SimOption) (*Bank, error) {
	b := &Bank{URL: cfg.BankURL}
	if b.URL == "" && !cfg.Dev {
		return nil, errors.New("BANK_URL is not set: name the bank's payment interface (the bank simulator stands in for it in dev mode only)")
	}
	if b.URL == "" {
		sc := banksim.Config{Token: cfg.BankToken, Account: cfg.DebtorIBAN,
			OpeningBalance: decimal.RequireFromString("10000000.00"), Logger: log.With("component", "banksim")}
		for _, o := range opts {
			o(&sc)
		}
		b.Sim = banksim.New(sc)
		ln, err := net.Listen("tcp", cfg.BankEmbeddedAddr)
		if err != nil {
			return nil, fmt.Errorf("embedded bank simulator on BANK_EMBEDDED_ADDR %s: %w", cfg.BankEmbeddedAddr, err)
		}
		b.srv = &http.Server{Handler: b.Sim, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("embedded bank simulator stopped", "error", err.Error())
			}
		}()
		b.URL = "http://" + ln.Addr().String()
	}
	gw, err := bank.NewHTTPGateway(bank.HTTPConfig{
		BaseURL: b.URL, Token: cfg.BankToken, Timeout: cfg.BankTimeout, Retries: cfg.BankRetries,
		Breaker: bank.BreakerConfig{ConsecutiveFailures: uint32(cfg.BankBreakerFailures), OpenTimeout: cfg.BankBreakerOpen},
	}, log, reg)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bank gateway: %w", err)
	}
	b.Gateway = gw
	return b, nil
}

// Close stops the embedded simulator, if any.
func (b *Bank) Close() {
	if b.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(ctx)
	}
}

// Simulated reports whether gw, a gateway of the settings cfg, is the
// embedded bank simulator: Open starts one in dev mode when BANK_URL is
// unset, and only then.
func Simulated(cfg config.Config, gw bank.Gateway) bool {
	return gw != nil && cfg.Dev && cfg.BankURL == ""
}

// ApprovalConfig is the configuration of the approval workflow from the
// settings, writing the files for gw. The files written for the embedded
// simulator are marked simulated.
func ApprovalConfig(cfg config.Config, gw bank.Gateway) paysql.ApprovalConfig {
	return paysql.ApprovalConfig{
		Simulated:           Simulated(cfg, gw),
		SecondApprovalAbove: cfg.SecondApprovalAbove,
		Debtor:              sepa.Party{Name: cfg.DebtorName, IBAN: cfg.DebtorIBAN, BIC: cfg.DebtorBIC},
		Format:              sepa.Version(cfg.BankFormat),
		MaxFileTransactions: cfg.PaymentFileMaxTx,
	}
}

// DeliveryConfig is the configuration of the delivery of the payment files
// to gw (nil: files stay queued). The files sent to the embedded simulator
// are marked simulated.
func DeliveryConfig(cfg config.Config, gw bank.Gateway, log *slog.Logger) workflow.DeliveryConfig {
	return workflow.DeliveryConfig{Gateway: gw, Simulated: Simulated(cfg, gw), Logger: log}
}

// ReconcileConfig is the configuration of the reconciliation's store from
// the settings.
func ReconcileConfig(cfg config.Config, log *slog.Logger) reconsql.Config {
	others := map[string]string{}
	for _, a := range cfg.BankAccounts {
		others[a.IBAN] = a.Ledger
	}
	return reconsql.Config{Account: cfg.DebtorIBAN, Accounts: others, SuggestionDays: cfg.ReconSuggestionDays, InTransitDays: cfg.ReconInTransitDays,
		Logger: log, Insert: cfg.BulkInsert}
}

// StatementFetcher fetches the statements of DEBTOR_IBAN through gw (nil:
// none fetched) and imports them into rec. The statements fetched from
// the embedded simulator are marked simulated.
func StatementFetcher(cfg config.Config, gw bank.Gateway, rec *reconsql.Store) reconcile.Fetcher {
	return reconcile.Fetcher{Bank: gw, Account: cfg.DebtorIBAN, Simulated: Simulated(cfg, gw), Importer: Importer(rec), Due: rec}
}

// Importer imports the statement files into rec.
func Importer(rec *reconsql.Store) reconcile.Importer {
	return reconcile.Importer{Store: rec, Accounts: rec.Accounts(), Options: rec.ReaderOptions()}
}

// Reconciliation puts the reconciliation's services together: the
// store's own operations, the reports with the balances of the ledger l,
// and the statements fetched by fetch.
func Reconciliation(rec *reconsql.Store, l reconcile.Balances, fetch reconcile.StatementFetcher) reconcile.Services {
	return reconcile.Services{StatementImporter: Importer(rec), StatementFetcher: fetch, Matching: rec, ExceptionDesk: reconcile.Desk{Store: rec},
		Reporter: reconcile.Reports{Facts: rec, Ledger: l}}
}

// ChartAccounts are the ledger accounts of the service's bank accounts
// other than DEBTOR_IBAN's bank:main (BANK_ACCOUNTS), for ledger.SetUpChart.
func ChartAccounts(cfg config.Config) []ledger.Account {
	out := make([]ledger.Account, 0, len(cfg.BankAccounts))
	for _, a := range cfg.BankAccounts {
		out = append(out, ledger.BankAccount(a.Ledger, a.IBAN))
	}
	return out
}
