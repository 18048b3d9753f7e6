package gateway

import (
	"errors"
	"net/http"
)

// ErrUnauthorized, returned by a handler (or wrapped: fmt.Errorf("%w: bad
// password", ErrUnauthorized)), answers 401, which the gateway turns into
// AUTH_FAILED for the client. The error's text is the answer's body.
var ErrUnauthorized = errors.New("unauthorized")

// RejectError is a handler's refusal with a 4xx status; see [Reject]. ParseRequest
// returns one too (400, 405 or 413) when a request cannot be a gateway's.
type RejectError struct {
	StatusCode int
	Message    string
}

func (e *RejectError) Error() string { return e.Message }

// Reject returns an error that answers httpStatus with message as the body. The
// gateway sends the client BACKEND_REJECTED with httpStatus (AUTH_FAILED for 401
// and 403); the message stays between backend and gateway. To give the player a
// reason, answer a Reply with an application Status and a body instead.
//
// A status outside 400–499 is a programming error and is answered as 400, so a
// rejection can never look like a backend failure (5xx) or a success.
func Reject(httpStatus int, message string) error {
	if httpStatus < 400 || httpStatus > 499 {
		httpStatus = http.StatusBadRequest
	}
	return &RejectError{StatusCode: httpStatus, Message: message}
}

// errorStatus maps a handler error to the HTTP answer of the table in the
// package documentation. internal is true when the error is the backend's fault
// and should be logged rather than shown.
func errorStatus(err error) (status int, message string, internal bool) {
	var rej *RejectError
	switch {
	case errors.As(err, &rej):
		return rej.StatusCode, rej.Message, false
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, err.Error(), false
	default:
		return http.StatusInternalServerError, "internal error", true
	}
}
