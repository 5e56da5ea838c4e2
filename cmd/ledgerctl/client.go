package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
)

// tokenFileName is the file, under the user's config directory, that may
// hold their API token.
const tokenFileName = "ledgerctl/token"

// api returns the client of the ledgerd that the staff commands call: the
// server of --server or LEDGER_URL, with the token of --token, LEDGER_TOKEN
// or the user's token file, in that order. The server decides who the
// caller is from the token alone; without a token nothing is sent.
func (a *app) api() (*apiclient.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	base, source := c.LedgerURL, "LEDGER_URL"
	if a.serverFlag != "" {
		base, source = a.serverFlag, "--server"
	}
	token, err := a.token(c.LedgerToken)
	if err != nil {
		return nil, err
	}
	cl, err := apiclient.New(base, token, "ledgerctl")
	if err != nil {
		return nil, cli.Usage(errs.Field(source, "%v", err))
	}
	a.client = cl
	return cl, nil
}

// token finds the caller's API token: --token, then LEDGER_TOKEN (env),
// then the token file of the user's config directory.
func (a *app) token(env string) (string, error) {
	if t := strings.TrimSpace(a.tokenFlag); t != "" {
		return t, nil
	}
	if t := strings.TrimSpace(env); t != "" {
		return t, nil
	}
	path, err := a.tokenFile()
	if err != nil {
		return "", err
	}
	t, err := readTokenFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", cli.Usage(errs.Field("--token", "give the API token of the person acting: set LEDGER_TOKEN, pass --token, or keep it in %s (mode 0600; 'ledgerctl token save' writes it)", path))
	}
	return t, err
}

// tokenFile is the path of the user's token file: ledgerctl/token under
// XDG_CONFIG_HOME, or under $HOME/.config.
func (a *app) tokenFile() (string, error) {
	if d := a.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, tokenFileName), nil
	}
	if h := a.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", tokenFileName), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user's config directory for the token file: %w", err)
	}
	return filepath.Join(d, tokenFileName), nil
}

// maxTokenFileBytes bounds the token file: a token is a line.
const maxTokenFileBytes = 4096

// readTokenFile reads a token file, refusing one that others may read or
// that is not a small regular file.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", errs.Field("token file", "%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", errs.Field("token file", "%s may be read by others (mode %04o): it holds a secret; run 'chmod 600 %s'", path, perm, path)
	}
	if fi.Size() > maxTokenFileBytes {
		return "", errs.Field("token file", "%s is %d bytes: a token is one line", path, fi.Size())
	}
	b := make([]byte, maxTokenFileBytes+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	t := strings.TrimSpace(string(b[:n]))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", errs.Field("token file", "%s must hold one token on one line", path)
	}
	return t, nil
}

// writeTokenFile writes token to path with mode 0600, creating its
// directory (0700) when missing.
func writeTokenFile(path, token string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return fmt.Errorf("write the token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write the token file: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write the token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the token file: %w", err)
	}
	return nil
}
