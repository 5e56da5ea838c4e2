package httptransport

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ofii/allowances/internal/errs"
)

// statusOf is the HTTP status of an error code (errs.HTTPStatus, the one
// table shared with the API's client).
func statusOf(code errs.Code) int { return errs.HTTPStatus(code) }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    errs.Code `json:"code"`
	Message string    `json:"message"`
	Field   string    `json:"field,omitempty"`
}

// writeError writes err as an error response. An error that is not an
// *errs.Error, or one with code internal, is written as "internal error";
// the caller logs it (see recordError).
func writeError(w http.ResponseWriter, err error) {
	code := errs.CodeOf(err)
	d := errorDetail{Code: code, Message: errs.MessageOf(err)}
	var e *errs.Error
	if errors.As(err, &e) {
		d.Field = e.Field
	}
	if code == errs.Internal || statusOf(code) == http.StatusInternalServerError {
		d = errorDetail{Code: errs.Internal, Message: "internal error"}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(statusOf(d.Code))
	_ = json.NewEncoder(w).Encode(errorBody{Error: d})
}
