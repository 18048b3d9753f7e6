package gateway

import (
	"net/http"
	"strconv"
	"strings"
)

// The directive headers of a 2xx answer; the gateway applies them after it has
// sent the client its RESPONSE.
const (
	headerStatus = "X-Gateway-Status"
	headerBind   = "X-Gateway-Bind"
	headerUnbind = "X-Gateway-Unbind"
	headerJoin   = "X-Gateway-Join"
	headerLeave  = "X-Gateway-Leave"
	headerClose  = "X-Gateway-Close"
)

// Reply is a handler's successful answer. The zero value (and a nil *Reply) is
// an empty answer with status 0.
type Reply struct {
	// Status is the RESPONSE status the client sees: 0, or an application code
	// 1000–65535 (x-gateway-status). Values 1–999 are reserved for the gateway's
	// own codes and are not sent.
	Status uint16
	Body   []byte
	// Bind binds the session to this player id (login). A session of the same
	// player elsewhere is kicked REPLACED; the player's cached pushes follow the
	// RESPONSE. Bind wins over Unbind when both are set.
	Bind string
	// Unbind ends the binding (logout); the connection stays open.
	Unbind bool
	// Join and Leave add the bound player to groups / remove it from them. Group
	// names are 1–128 characters without commas, control characters or
	// whitespace at either end; the gateway refuses a directive naming another.
	Join, Leave []string
	// Close, when not empty, has the gateway send the RESPONSE and then KICK
	// KICKED with this reason, and close the connection.
	Close string
}

// Write sends r as a 200 answer with its directive headers.
func (r *Reply) Write(w http.ResponseWriter) {
	if r == nil {
		r = &Reply{}
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(r.Body)))
	if r.Status >= 1000 {
		h.Set(headerStatus, strconv.Itoa(int(r.Status)))
	}
	if r.Bind != "" {
		h.Set(headerBind, r.Bind)
	}
	if r.Unbind {
		h.Set(headerUnbind, "1")
	}
	if groups := groupList(r.Join); groups != "" {
		h.Set(headerJoin, groups)
	}
	if groups := groupList(r.Leave); groups != "" {
		h.Set(headerLeave, groups)
	}
	if r.Close != "" {
		h.Set(headerClose, r.Close)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(r.Body) // the gateway is gone if this fails; nothing to tell it
}

// groupList joins the non-empty names with commas, the header's list syntax.
func groupList(groups []string) string {
	kept := make([]string, 0, len(groups))
	for _, g := range groups {
		if g = strings.TrimSpace(g); g != "" {
			kept = append(kept, g)
		}
	}
	return strings.Join(kept, ",")
}
