package server

import (
	"errors"
	"net/http"
)

// Errors a Catalog returns for SDK keys.
var (
	// ErrSDKKeyRequired: the service holds several datafiles and the
	// request named none.
	ErrSDKKeyRequired = errors.New("missing required " + sdkKeyHeader + " header")
	// ErrUnknownSDKKey: no datafile is held for the key. Answered 403 in
	// Agent's words for a key its CDN refuses, without the key.
	ErrUnknownSDKKey = errors.New("unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden")
)

// Agent's messages, kept word for word so clients that match on them work.
var (
	errEmptyUserID = errors.New(`missing "userId" in request payload`)
	errParseBody   = errors.New("error parsing request body")
)

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(err error) error { return &httpError{http.StatusBadRequest, err} }

// statusOf maps an error to its HTTP status: 400 for bad input unless the
// error says otherwise, 403 for an unknown SDK key (as Agent), 503 for a failing
// store.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, ErrUnknownSDKKey):
		return http.StatusForbidden
	case errors.Is(err, ErrSDKKeyRequired):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// writeError answers {"error": "…"} with the error's status.
func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnknownSDKKey) {
		// Agent's words exactly: clients may match them.
		writeErrorStatus(w, http.StatusForbidden, ErrUnknownSDKKey.Error())
		return
	}
	writeErrorStatus(w, statusOf(err), err.Error())
}

func writeErrorStatus(w http.ResponseWriter, status int, msg string) {
	buf := getBuffer()
	defer putBuffer(buf)
	b := append(buf.b[:0], `{"error":`...)
	b = appendString(b, msg)
	b = append(b, "}\n"...)
	buf.b = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
