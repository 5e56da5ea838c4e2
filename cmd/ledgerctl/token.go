package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/staff"
	httptransport "github.com/ofii/allowances/transport/http"
)

// roleNames lists the roles a token may carry, for help and error texts.
func roleNames() string {
	var names []string
	for _, r := range staff.AllRoles() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

func tokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue, hash and keep API tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cli.Usage(fmt.Errorf("token needs a subcommand: new, hash or save"))
		},
	}
	cmd.AddCommand(tokenNewCmd(a), tokenHashCmd(a), tokenSaveCmd(a))
	return cmd
}

// newToken is a token just issued, with the line that grants it.
type newToken struct {
	Name       string   `json:"name"`
	Roles      []string `json:"roles"`
	Token      string   `json:"token"`
	SHA256     string   `json:"sha256"`
	ConfigLine string   `json:"config_line"`
}

func tokenNewCmd(a *app) *cobra.Command {
	var roleFlag []string
	var lastDay string
	cmd := &cobra.Command{
		Use:   "new NAME --role ROLE[,ROLE] [--last-day YYYY-MM-DD]",
		Short: "Issue a random API token and the AUTH_TOKENS line that grants it",
		Long: `Issue a random API token for NAME with the given roles (` + roleNames() + `).
The token is printed once: give it to its holder. Only its hash goes in
AUTH_TOKENS (entries separated by ';') or AUTH_TOKENS_FILE (one per line) of
ledgerd. With --last-day, the token is refused (401) after the end of that
day (UTC). It uses neither ledgerd nor the database: the token is made here,
and ledgerd takes the line once it is in its settings and it is restarted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if name == "" || strings.ContainsAny(name, ":;+#, \t\r\n") {
				return errs.Field("NAME", "%q must be non-empty without spaces or any of : ; + # ,", name)
			}
			var rs []string
			for _, name := range roleFlag {
				name = strings.ToLower(strings.TrimSpace(name))
				r, err := staff.ParseRole(name)
				if err != nil {
					return errs.Field("--role", "%q is not a role; the roles are %s", name, roleNames())
				}
				if !slices.Contains(rs, string(r)) {
					rs = append(rs, string(r))
				}
			}
			if len(rs) == 0 {
				return errs.Field("--role", "at least one role is needed: %s", roleNames())
			}
			var expires string
			if lastDay != "" {
				d, err := time.Parse(time.DateOnly, lastDay)
				if err != nil {
					return errs.Field("--last-day", "%q is not a date YYYY-MM-DD", lastDay)
				}
				expires = ":" + d.Format(time.DateOnly)
			}
			tok, err := httptransport.NewToken()
			if err != nil {
				return err
			}
			hash := httptransport.HashToken(tok)
			out := newToken{Name: name, Roles: rs, Token: tok, SHA256: hash,
				ConfigLine: name + ":" + strings.Join(rs, "+") + ":" + hash + expires}
			if err := a.write(out, func(w io.Writer) error {
				t := cli.NewTable(w)
				t.Row("token", out.Token)
				t.Row("config line", out.ConfigLine)
				return t.Flush()
			}); err != nil {
				return err
			}
			fmt.Fprintln(a.stderr, "The token is shown only now. Add the config line to AUTH_TOKENS (separated by ';') or to AUTH_TOKENS_FILE.")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&roleFlag, "role", nil, "roles of the token, comma-separated: "+roleNames())
	cmd.Flags().StringVar(&lastDay, "last-day", "", "the token's last valid day, YYYY-MM-DD (UTC); default: no end")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func tokenHashCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "hash",
		Short: "Print the SHA-256 of a token read from standard input",
		Long: `Read a token from the first line of standard input and print its SHA-256
in hex, the form AUTH_TOKENS holds:

  printf '%s' "$TOKEN" | ledgerctl token hash

It uses neither ledgerd nor the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(a.stdin, 4096)).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("read token from standard input: %w", err)
			}
			tok := strings.TrimSpace(line)
			if tok == "" {
				return errs.Field("token", "no token on standard input")
			}
			hash := httptransport.HashToken(tok)
			return a.write(map[string]string{"sha256": hash}, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, hash)
				return err
			})
		},
	}
}

func tokenSaveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "save",
		Short: "Keep your API token in your token file, readable by you alone",
		Long: `Read your API token from standard input (or, at a terminal, ask for it
without echoing it) and write it to the token file of your config directory
($XDG_CONFIG_HOME/` + tokenFileName + `, else ~/.config/` + tokenFileName + `) with
mode 0600. The staff commands then send it to ledgerd when neither --token
nor LEDGER_TOKEN is given:

  ledgerctl token save < token.txt

It uses neither ledgerd nor the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := readSecretLine(a, "API token: ")
			if err != nil {
				return err
			}
			if tok == "" {
				return errs.Field("token", "no token on standard input")
			}
			if strings.ContainsAny(tok, " \t") || len(tok) > maxTokenFileBytes-1 {
				return errs.Field("token", "a token is one word of at most %d characters", maxTokenFileBytes-1)
			}
			path, err := a.tokenFile()
			if err != nil {
				return err
			}
			if err := writeTokenFile(path, tok); err != nil {
				return err
			}
			return a.write(map[string]string{"path": path}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "token saved to %s (mode 0600)\n", path)
				return err
			})
		},
	}
}

// readSecretLine reads one line of standard input; at a terminal it first
// writes prompt to standard error and does not echo what is typed.
func readSecretLine(a *app, prompt string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read the token from the terminal: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(a.stdin, maxTokenFileBytes)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the token from standard input: %w", err)
	}
	return strings.TrimSpace(line), nil
}
