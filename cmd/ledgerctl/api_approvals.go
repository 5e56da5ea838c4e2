package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/apiclient"
)

// calledLedgerd is the sentence the help of each workflow command ends
// with: who decides, and where.
const calledLedgerd = `
It calls ledgerd (LEDGER_URL or --server) with the API token of --token,
LEDGER_TOKEN or the token file; ledgerd decides who acts and what they may
do, and alone touches the database and the bank.`

// batchPath is the path of a batch's route: /v1/batches/{id}/verb.
func batchPath(id uuid.UUID, verb string) string {
	return "/v1/batches/" + id.String() + "/" + verb
}

// exceptionPath is the path of a payment exception's route:
// /v1/payment-exceptions/{id}/verb.
func exceptionPath(id uuid.UUID, verb string) string {
	return "/v1/payment-exceptions/" + id.String() + "/" + verb
}

// filePath is the path of a payment file, /v1/files/{msgId}, with suffix
// after it. The client escapes the path.
func filePath(msgID, suffix string) string {
	return "/v1/files/" + msgID + suffix
}

// maybeDone completes the error of a change whose answer was lost after the
// request was sent: ledgerd may have carried it out, and check says how to
// find out (or that sending it again is safe).
func maybeDone(err error, check string) error {
	var u *apiclient.UnreachableError
	if errors.As(err, &u) && u.Sent {
		return fmt.Errorf("%w; it may have been carried out: %s", err, check)
	}
	return err
}

// flagNames renames the fields the API names in its errors after the
// command line's flags and arguments that gave them: "id" becomes "ID",
// any other name n "--n".
func flagNames(err error, names ...string) error {
	m := make(map[string]string, len(names))
	for _, n := range names {
		if n == "id" {
			m[n] = "ID"
			continue
		}
		m[n] = "--" + n
	}
	return renameFields(err, m)
}

// renameFields is apiclient.RenameFields for an API whose message already
// starts with the field it names ("note: must have at most 500
// characters"): the field is written once, under its new name.
func renameFields(err error, names map[string]string) error {
	var e *apiclient.Error
	if !errors.As(err, &e) || e.Err.Field == "" {
		return err
	}
	c := *e.Err
	c.Message = strings.TrimPrefix(c.Message, c.Field+": ")
	if to, ok := names[c.Field]; ok {
		c.Field = to
	}
	return &apiclient.Error{Status: e.Status, Err: &c}
}
