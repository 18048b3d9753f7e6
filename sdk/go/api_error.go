package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrNotFound is returned by Client.Player for a player the gateway does not
// know (never seen, or forgotten after players.retainMs offline).
var ErrNotFound = errors.New("gateway: player not found")

// APIError is every non-2xx answer of the gateway's API. Code is the API's error
// name ("invalid_request", "unauthorized", "not_found", "method_not_allowed",
// "payload_too_large", "engine_unavailable", "internal"; "not_ready" from
// /readyz), or "" when the body was not the API's JSON (e.g. a proxy in between
// answered).
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("gateway api: HTTP %d: %s", e.StatusCode, e.Message)
	}
	return fmt.Sprintf("gateway api: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// maxErrorText bounds how much of a body that is not JSON ends up in Message.
const maxErrorText = 512

func decodeAPIError(status int, body []byte) *APIError {
	var answer struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Status  string `json:"status"` // /readyz answers {"status": "not_ready"}
	}
	e := &APIError{StatusCode: status}
	if json.Unmarshal(body, &answer) == nil && (answer.Error != "" || answer.Status != "") {
		e.Code, e.Message = answer.Error, answer.Message
		if e.Code == "" {
			e.Code = answer.Status
		}
	} else {
		text := strings.TrimSpace(string(body))
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "…"
		}
		e.Message = text
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}
