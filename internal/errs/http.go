package errs

import "net/http"

// httpStatus is the one table of the HTTP statuses of the codes, for the
// server that answers with them and the client that reads them back.
var httpStatus = map[Code]int{
	Invalid:      http.StatusBadRequest,
	Unauthorized: http.StatusUnauthorized,
	Forbidden:    http.StatusForbidden,
	NotFound:     http.StatusNotFound,
	Conflict:     http.StatusConflict,
	TooLarge:     http.StatusRequestEntityTooLarge,
	Unsupported:  http.StatusUnsupportedMediaType,
	Unavailable:  http.StatusServiceUnavailable,
	Internal:     http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status of an error of code c: 500 for Internal
// and for a code it does not know.
func HTTPStatus(c Code) int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeOfHTTPStatus is the code of an answer of status s that carries no
// error of ours (a proxy's, say): the code whose status it is, Invalid for
// 422, Unavailable for 502 and 504, and Internal for any other.
func CodeOfHTTPStatus(s int) Code {
	for c, st := range httpStatus {
		if st == s {
			return c
		}
	}
	switch s {
	case http.StatusUnprocessableEntity:
		return Invalid
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return Unavailable
	}
	return Internal
}
