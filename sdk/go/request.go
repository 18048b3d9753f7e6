package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The headers the gateway sets on every forwarded request (and lifecycle event).
const (
	headerCmd      = "X-Gateway-Cmd"
	headerSeq      = "X-Gateway-Seq"
	headerKind     = "X-Gateway-Kind"
	headerEvent    = "X-Gateway-Event"
	headerSession  = "X-Gateway-Session"
	headerPlayer   = "X-Gateway-Player"
	headerNode     = "X-Gateway-Node"
	headerClientIP = "X-Gateway-Client-Ip"
	headerReqID    = "X-Request-Id"
)

// Values of Request.Kind and Request.Event.
const (
	KindRequest = "request" // the client waits for the answer
	KindNotify  = "notify"  // the client gets no answer; the gateway drops it
	KindEvent   = "event"   // a lifecycle event, see Mux.HandleEvent

	EventOnline  = "online"  // a player was bound to a session (login)
	EventOffline = "offline" // that binding ended (logout, disconnect, kick)
)

// DefaultMaxBodyBytes bounds the body ParseRequest reads. Client frames are
// capped by the gateway's limits.maxFrameBytes (64 KiB by default), so a larger
// body is not from a well-configured gateway.
const DefaultMaxBodyBytes = 1 << 20

// Request is one forwarded client request, or a lifecycle event.
type Request struct {
	Cmd, Seq  uint32
	Kind      string // KindRequest, KindNotify or KindEvent
	Event     string // EventOnline or EventOffline when Kind is KindEvent
	SessionID string
	PlayerID  string // "" while the session is not bound (before login)
	Node      string // the gateway node holding the session
	ClientIP  string
	RequestID string // also in the gateway's logs
	Body      []byte // the client frame's body, unchanged
}

// ParseRequest reads the gateway's headers and the body (at most
// DefaultMaxBodyBytes) of r. Its errors are *RejectError: 405 for a method other
// than POST, 400 when x-gateway-cmd is missing (the request is not from a
// gateway) or a number is malformed, 413 for a body over the limit.
func ParseRequest(r *http.Request) (*Request, error) {
	return parseRequest(r, DefaultMaxBodyBytes)
}

func parseRequest(r *http.Request, maxBody int64) (*Request, error) {
	if r.Method != http.MethodPost {
		return nil, &RejectError{http.StatusMethodNotAllowed, "the gateway sends POST, not " + r.Method}
	}
	h := r.Header
	cmdText := h.Get(headerCmd)
	if cmdText == "" {
		return nil, &RejectError{http.StatusBadRequest, "not a gateway request: no x-gateway-cmd header"}
	}
	cmd, err := parseU32(headerCmd, cmdText)
	if err != nil {
		return nil, err
	}
	var seq uint32
	if s := h.Get(headerSeq); s != "" {
		if seq, err = parseU32(headerSeq, s); err != nil {
			return nil, err
		}
	}
	body, err := readBody(r, maxBody)
	if err != nil {
		return nil, err
	}
	kind := h.Get(headerKind)
	if kind == "" {
		kind = KindRequest
	}
	return &Request{
		Cmd:       cmd,
		Seq:       seq,
		Kind:      kind,
		Event:     h.Get(headerEvent),
		SessionID: h.Get(headerSession),
		PlayerID:  h.Get(headerPlayer),
		Node:      h.Get(headerNode),
		ClientIP:  h.Get(headerClientIP),
		RequestID: h.Get(headerReqID),
		Body:      body,
	}, nil
}

func parseU32(name, text string) (uint32, error) {
	n, err := strconv.ParseUint(text, 10, 32)
	if err != nil {
		return 0, &RejectError{http.StatusBadRequest, fmt.Sprintf("%s is not a u32: %q", name, text)}
	}
	return uint32(n), nil
}

// readBody reads at most maxBody bytes; one more means the body is too large,
// and the rest is left unread so a huge body costs no more than the limit.
func readBody(r *http.Request, maxBody int64) ([]byte, error) {
	tooLarge := &RejectError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody)}
	if r.ContentLength > maxBody {
		return nil, tooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &RejectError{http.StatusBadRequest, "reading the body: " + err.Error()}
	}
	if int64(len(body)) > maxBody {
		return nil, tooLarge
	}
	return body, nil
}
