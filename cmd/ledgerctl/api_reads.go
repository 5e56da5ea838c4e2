package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/errs"
)

// apiGet reads path with the query q from ledgerd into out. An error the API
// gives about one of its parameters names the flag of flags that set it.
func (a *app) apiGet(ctx context.Context, path string, q url.Values, out any, flags map[string]string) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	return apiclient.RenameFields(c.Get(ctx, path, q, out), flags)
}

// apiWrite sends body (JSON, or nil for no body) to path and reads the
// answer into out. When the connection was lost after the request was
// sent, the error says that it may have been carried out, and what to do:
// again.
func (a *app) apiWrite(ctx context.Context, path string, body io.Reader, out any, flags map[string]string, again string) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	err = c.Do(ctx, "POST", path, nil, contentType, body, out)
	var lost *apiclient.UnreachableError
	if errors.As(err, &lost) && lost.Sent {
		return fmt.Errorf("%w; ledgerd may have done it: %s", err, again)
	}
	return apiclient.RenameFields(err, flags)
}

// pathSegment checks s, the value of the argument named arg, before it goes
// into a URL path as one segment: it must not hold '/' nor be "." or "..",
// which would name another route.
func pathSegment(arg, s string) (string, error) {
	if s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
		return "", errs.Field(arg, "%q is not a name ledgerd can look up: it is empty, holds '/', or is '.' or '..'", s)
	}
	return s, nil
}
