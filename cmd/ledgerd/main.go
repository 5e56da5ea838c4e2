// Command ledgerd is the allowance payment and ledger server: the staff
// HTTP API under /v1 with /metrics, /healthz and /readyz, the consumer of
// the eligibility events, the monthly ADA run, the sender of the payment
// files and the reconciliation of the bank's statements (see
// internal/server). It reads its settings from the environment (see the
// README or `ledgerctl config`), migrates the schema at start when
// AUTO_MIGRATE is on, and stops cleanly on SIGINT or SIGTERM: the requests
// and the event batch in hand are finished, the batch committed, and the
// consumer group left.
//
// It needs KAFKA_BROKERS and BANK_URL, and refuses to start without them.
// With --dev (or LEDGER_DEV=true) an embedded Kafka broker and an embedded
// bank simulator, which pays nobody, stand in for the ones left unset.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/logging"
	"github.com/ofii/allowances/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ledgerd:", err)
		stop()
		os.Exit(1)
	}
}

// run reads the command line and the settings, then runs the server until
// ctx is done. When ready is not nil it receives the addresses once the
// server accepts requests.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- server.Addrs) error {
	fs := flag.NewFlagSet("ledgerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "dev mode: run an embedded Kafka broker and an embedded bank simulator, which pays nobody, for KAFKA_BROKERS and BANK_URL left unset (LEDGER_DEV=true does the same)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ledgerd [--dev]\n\nThe settings come from the environment: run 'ledgerctl config' to list them.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: ledgerd takes its settings from the environment", fs.Arg(0))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *dev {
		cfg.Dev = true
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	return server.Run(ctx, cfg, log, ready)
}
