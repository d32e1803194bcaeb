package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/centralhub/centralhub/hub/internal/alert"
)

// Error is an error with the HTTP status and the message a client may see.
type Error struct {
	Status     int
	Message    string
	RetryAfter time.Duration // sent as Retry-After when positive
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

type errorBody struct {
	Error string `json:"error"`
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(format, args...)}
}

// writeError maps err to a status and JSON body: an *Error as it says, the alert engine's
// ErrNotFound 404, its *InputError 400 with its message, its *StoreError 503 with Retry-After.
// Only internal and store errors are logged, and their text never reaches the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		e        *Error
		inputErr *alert.InputError
		storeErr *alert.StoreError
	)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &inputErr):
		e = &Error{Status: http.StatusBadRequest, Message: inputErr.Msg}
	case errors.As(err, &storeErr):
		s.log.Error("store write failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = errStoreDown
	case errors.Is(err, alert.ErrNotLeader):
		e = errNoLeader
	case errors.Is(err, alert.ErrNotFound):
		e = &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	if e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="centralhub"`)
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, e.RetryAfter.Seconds()))))
		}
		writeJSON(w, e.Status, errorBody{e.Message})
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
}
