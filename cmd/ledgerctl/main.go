// Command ledgerctl is the staff's and operators' shell access to the
// service. The staff commands (runs, batches, payment files, exceptions,
// bank, reconciliation, audit, beneficiaries, dead letters, accounts,
// balances, statements, entries, trial balance) are clients of ledgerd's
// API: they call the server of LEDGER_URL (or --server) with the bearer
// token of --token, LEDGER_TOKEN or the user's token file, and the server
// alone decides who the caller is and what they may do. Only what needs the
// database itself talks to it directly, configured from the same
// environment variables as the server (see `ledgerctl config`): migrate,
// chart, verify, bench, demo, config and token.
//
// Exit status: 0 when the command did what was asked, 1 when it failed or
// the ledger did not verify, 2 when the command line or the input is wrong
// (nothing was done).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
)

// commands builds the subcommands, one file each; a new command is one more
// line here.
var commands = []func(*app) *cobra.Command{
	migrateCmd,
	chartCmd,
	accountsCmd,
	postCmd,
	reverseCmd,
	entryCmd,
	balanceCmd,
	statementCmd,
	trialBalanceCmd,
	verifyCmd,
	sealCmd,
	tokenCmd,
	configCmd,
	schedulesCmd,
	beneficiariesCmd,
	runsCmd,
	batchesWorkflowCmd,
	exceptionsCmd,
	bankCmd,
	reconcileCmd,
	auditCmd,
	budgetCmd,
	eventsCmd,
	demoCmd,
	benchCmd,
	exportCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status. It is
// main without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := newApp(stdin, stdout, stderr, getenv)
	defer a.close()
	root := rootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return cli.ExitOK
	}
	// An error before the command started to run comes from cobra: an
	// unknown command or flag, a missing argument.
	if !a.started {
		err = cli.Usage(err)
	}
	var remote *apiclient.Error
	if errors.As(err, &remote) {
		fmt.Fprintf(stderr, "error: %s\n", remote.Error())
	} else {
		cli.PrintError(stderr, err)
	}
	var u *cli.UsageError
	if errors.As(err, &u) && cmd != nil {
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", cmd.CommandPath())
	}
	return cli.ExitCode(err)
}

// rootCmd builds the ledgerctl command with its global flags and every
// subcommand of commands.
func rootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "ledgerctl",
		Short: "Operate the OFII allowance ledger from the shell",
		Long: `ledgerctl operates the OFII allowance ledger: schema, chart of accounts,
entries, balances, statements, trial balance, verification and seals.

Settings come from the environment (run 'ledgerctl config' to list them);
--database-url overrides DATABASE_URL.

Exit status: 0 ok, 1 failure or ledger not verified, 2 bad command line or input.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			f, err := cli.ParseFormat(a.outputFlag)
			if err != nil {
				return cli.Usage(fmt.Errorf("--output: %w", err))
			}
			a.format = f
			// cobra checks these after this hook; check them first, so
			// that a missing flag counts as a mistake in the command line.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return cli.Usage(err)
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return cli.Usage(err)
			}
			a.started = true
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
	pf := root.PersistentFlags()
	pf.StringVarP(&a.outputFlag, "output", "o", string(cli.FormatTable), "output format: table or json")
	pf.StringVar(&a.databaseURL, "database-url", "", "database connection string, for the commands that use the database itself (overrides DATABASE_URL)")
	pf.StringVar(&a.serverFlag, "server", "", "base URL of ledgerd, for the staff commands (overrides LEDGER_URL)")
	pf.StringVar(&a.tokenFlag, "token", "", "API token of the person acting, for the staff commands (default: $LEDGER_TOKEN, then the token file; the environment keeps it out of the process list)")
	for _, build := range commands {
		root.AddCommand(build(a))
	}
	return root
}
