// Command banksim runs a simulated bank: the other side of the service's
// bank gateway (payments/bank), speaking the same HTTP API as a real bank's
// adapter. It takes pain.001 files, answers each with a pain.002 status
// report, books the accepted transfers into camt.053 statements on the next
// TARGET2 business day, returns the transfers to chosen accounts a few
// business days later, and injects latency, errors and outages on demand.
// Its state lives in memory and is lost when it stops.
//
// Every flag has an environment variable, read when the flag is not given:
//
//	-addr               BANKSIM_ADDR               address to listen on (127.0.0.1:8090)
//	-token              BANKSIM_TOKEN              bearer token every request must carry (none)
//	-account            BANKSIM_ACCOUNT            IBAN of the debtor account it keeps (FR7630001007941234567890185)
//	-opening-balance    BANKSIM_OPENING_BALANCE    balance before the first statement, EUR (10000000.00)
//	-reject-ibans       BANKSIM_REJECT_IBANS       creditor IBANs rejected with AC04, comma-separated
//	-return-ibans       BANKSIM_RETURN_IBANS       creditor IBANs booked then returned with AC04, comma-separated
//	-return-after-days  BANKSIM_RETURN_AFTER_DAYS  business days before a return is booked (3)
//	-batch-booking      BANKSIM_BATCH_BOOKING      book one debit per payment information block (false)
//	-fee-per-file       BANKSIM_FEE_PER_FILE       charge booked for every file, EUR (0)
//	-error-rate         BANKSIM_ERROR_RATE         share of API requests answered 503, 0 to 1 (0)
//	-latency            BANKSIM_LATENCY            delay of every API answer, e.g. 250ms (0)
//	-seed               BANKSIM_SEED               seed of the error draws (1)
//	-today              BANKSIM_TODAY              the bank's date, YYYY-MM-DD (the real date in Paris)
//
// LOG_LEVEL (debug, info, warn, error) and LOG_FORMAT (json, text) set the
// logs, JSON on standard error by default. IBANs are masked in them.
//
// The faults and the date can be changed while it runs, through its admin
// routes (which faults do not affect):
//
//	curl -X POST localhost:8090/sim/faults -d '{"error_rate":0.5,"latency":"200ms","outage":false}'
//	curl -X POST localhost:8090/sim/clock -d '{"today":"2026-11-02"}'
//	curl localhost:8090/sim/files
//
// SIGINT or SIGTERM stops it gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/logging"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "banksim:", err)
		}
		os.Exit(2)
	}
}

// options are banksim's settings once read.
type options struct {
	addr   string
	faults banksim.Faults
	config banksim.Config
}

// parse reads the flags of args, each defaulting to its environment variable.
func parse(args []string, getenv func(string) string, output io.Writer) (options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("banksim", flag.ContinueOnError)
	fs.SetOutput(output)
	addr := fs.String("addr", env("BANKSIM_ADDR", "127.0.0.1:8090"), "address to listen on")
	token := fs.String("token", env("BANKSIM_TOKEN", ""), "bearer token every request must carry")
	account := fs.String("account", env("BANKSIM_ACCOUNT", banksim.DefaultAccount), "IBAN of the debtor account the bank keeps")
	opening := fs.String("opening-balance", env("BANKSIM_OPENING_BALANCE", "10000000.00"), "balance before the first statement, EUR")
	reject := fs.String("reject-ibans", env("BANKSIM_REJECT_IBANS", ""), "creditor IBANs rejected with AC04, comma-separated")
	ret := fs.String("return-ibans", env("BANKSIM_RETURN_IBANS", ""), "creditor IBANs booked then returned with AC04, comma-separated")
	returnAfter := fs.String("return-after-days", env("BANKSIM_RETURN_AFTER_DAYS", "3"), "business days before a return is booked")
	batch := fs.String("batch-booking", env("BANKSIM_BATCH_BOOKING", "false"), "book one debit per payment information block")
	fee := fs.String("fee-per-file", env("BANKSIM_FEE_PER_FILE", "0"), "charge booked for every file, EUR")
	errorRate := fs.String("error-rate", env("BANKSIM_ERROR_RATE", "0"), "share of API requests answered 503, 0 to 1")
	latency := fs.String("latency", env("BANKSIM_LATENCY", "0s"), "delay of every API answer, e.g. 250ms")
	seed := fs.String("seed", env("BANKSIM_SEED", "1"), "seed of the error draws")
	today := fs.String("today", env("BANKSIM_TODAY", ""), "the bank's date, YYYY-MM-DD (default the real date in Paris)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	o := options{addr: *addr}
	c := &o.config
	c.Token = *token
	iban, err := payments.ValidateIBAN(*account)
	if err != nil {
		return options{}, fmt.Errorf("-account: the IBAN %s", err)
	}
	c.Account = iban
	if c.OpeningBalance, err = amount("-opening-balance", *opening, true); err != nil {
		return options{}, err
	}
	if c.FeePerFile, err = amount("-fee-per-file", *fee, false); err != nil {
		return options{}, err
	}
	if c.RejectIBANs, err = ibanSet("-reject-ibans", *reject); err != nil {
		return options{}, err
	}
	if c.ReturnIBANs, err = ibanSet("-return-ibans", *ret); err != nil {
		return options{}, err
	}
	if c.ReturnAfterDays, err = strconv.Atoi(*returnAfter); err != nil || c.ReturnAfterDays < 1 {
		return options{}, fmt.Errorf("-return-after-days: %q is not a number of days from 1", *returnAfter)
	}
	if c.BatchBooking, err = strconv.ParseBool(*batch); err != nil {
		return options{}, fmt.Errorf("-batch-booking: %q is neither true nor false", *batch)
	}
	if c.Seed, err = strconv.ParseUint(*seed, 10, 64); err != nil {
		return options{}, fmt.Errorf("-seed: %q is not a whole number", *seed)
	}
	if *today != "" {
		d, err := ledger.ParseDate(*today)
		if err != nil {
			return options{}, fmt.Errorf("-today: %w", err)
		}
		c.Today = func() ledger.Date { return d }
	}
	if o.faults.ErrorRate, err = strconv.ParseFloat(*errorRate, 64); err != nil || o.faults.ErrorRate < 0 || o.faults.ErrorRate > 1 {
		return options{}, fmt.Errorf("-error-rate: %q is not a share from 0 to 1", *errorRate)
	}
	if o.faults.Latency, err = time.ParseDuration(*latency); err != nil || o.faults.Latency < 0 {
		return options{}, fmt.Errorf("-latency: %q is not a duration such as 250ms", *latency)
	}
	return o, nil
}

// amount reads an amount in euros of at most two decimals.
func amount(flagName, s string, negativeOK bool) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	switch {
	case err != nil:
		return decimal.Decimal{}, fmt.Errorf("%s: %q is not an amount such as 10000000.00", flagName, s)
	case !d.Equal(d.Round(2)):
		return decimal.Decimal{}, fmt.Errorf("%s: %s has more than two decimals", flagName, s)
	case d.IsNegative() && !negativeOK:
		return decimal.Decimal{}, fmt.Errorf("%s: %s is negative", flagName, s)
	}
	return d, nil
}

// ibanSet reads comma-separated IBANs.
func ibanSet(flagName, s string) (map[string]bool, error) {
	set := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		iban, err := payments.ValidateIBAN(strings.ToUpper(strings.TrimSpace(part)))
		if err != nil {
			return nil, fmt.Errorf("%s: the IBAN number %d %s", flagName, i+1, err)
		}
		set[iban] = true
	}
	return set, nil
}

// run serves the bank until ctx ends, then shuts down gracefully. ready,
// when not nil, is told the address it listens on.
func run(ctx context.Context, args []string, getenv func(string) string, logw io.Writer, ready func(addr string)) error {
	o, err := parse(args, getenv, logw)
	if err != nil {
		return err
	}
	log := logging.New(logw, getenv("LOG_LEVEL"), getenv("LOG_FORMAT"))
	o.config.Logger = log
	bank := banksim.New(o.config)
	bank.SetFaults(o.faults)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	srv := &http.Server{
		Handler:           bank,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("banksim listening", "addr", ln.Addr().String(), "account", mask.MaskIBAN(o.config.Account),
		"today", bank.Today().String(), "batch_booking", o.config.BatchBooking,
		"rejects", len(o.config.RejectIBANs), "returns", len(o.config.ReturnIBANs), "auth", o.config.Token != "")
	if ready != nil {
		ready(ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("banksim shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("banksim stopped")
	return nil
}
