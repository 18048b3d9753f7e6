package gatewaytest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"

	gateway "game-gateway/sdk/go"
)

// Values the built requests carry for what a test rarely cares about; change
// them on the returned request's Header when it does.
const (
	SessionID = "test-session"
	Node      = "test-node"
	ClientIP  = "127.0.0.1"
)

var requestIDs atomic.Uint64

// NewRequest builds the POST a gateway sends for a client REQUEST of cmd. player
// is "" for a session that is not bound yet (before login).
func NewRequest(cmd uint32, player string, body []byte) *http.Request {
	return build(cmd, gateway.KindRequest, "", player, body)
}

// NewNotify builds the POST for a client NOTIFY (the gateway drops the answer).
func NewNotify(cmd uint32, player string, body []byte) *http.Request {
	return build(cmd, gateway.KindNotify, "", player, body)
}

// NewEvent builds a lifecycle event: event is gateway.EventOnline or
// gateway.EventOffline.
func NewEvent(event, player string) *http.Request {
	return build(0, gateway.KindEvent, event, player, nil)
}

func build(cmd uint32, kind, event, player string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/game/"+strconv.FormatUint(uint64(cmd), 10), bytes.NewReader(body))
	h := r.Header
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Gateway-Cmd", strconv.FormatUint(uint64(cmd), 10))
	h.Set("X-Gateway-Seq", "1")
	h.Set("X-Gateway-Kind", kind)
	h.Set("X-Gateway-Session", SessionID)
	h.Set("X-Gateway-Node", Node)
	h.Set("X-Gateway-Client-Ip", ClientIP)
	h.Set("X-Request-Id", "test-"+strconv.FormatUint(requestIDs.Add(1), 10))
	if player != "" {
		h.Set("X-Gateway-Player", player)
	}
	if event != "" {
		h.Set("X-Gateway-Event", event)
	}
	return r
}

// Answer is a handler's answer as the gateway reads it.
type Answer struct {
	StatusCode int
	Header     http.Header
	// Reply holds the body and the directives decoded from the headers. Its
	// Status is the x-gateway-status application code (0 when absent).
	Reply gateway.Reply
}

// Serve runs h on r and decodes the answer.
func Serve(h http.Handler, r *http.Request) *Answer {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	defer res.Body.Close()
	hd := res.Header
	a := &Answer{StatusCode: res.StatusCode, Header: hd}
	a.Reply.Body = rec.Body.Bytes()
	if s, err := strconv.ParseUint(hd.Get("X-Gateway-Status"), 10, 16); err == nil {
		a.Reply.Status = uint16(s)
	}
	a.Reply.Bind = hd.Get("X-Gateway-Bind")
	a.Reply.Unbind = hd.Get("X-Gateway-Unbind") != ""
	a.Reply.Join = splitList(hd.Get("X-Gateway-Join"))
	a.Reply.Leave = splitList(hd.Get("X-Gateway-Leave"))
	a.Reply.Close = hd.Get("X-Gateway-Close")
	return a
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
