package gateway_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	gateway "game-gateway/sdk/go"
)

// gatewayPost builds the request a gateway forwards, with the given x-gateway-* headers.
func gatewayPost(body string, headers map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/game/2001", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestParseRequestReadsEveryHeader(t *testing.T) {
	r := gatewayPost("hello", map[string]string{
		"x-gateway-cmd":       "2001",
		"x-gateway-seq":       "4294967295",
		"x-gateway-kind":      "notify",
		"x-gateway-session":   "s-1",
		"x-gateway-player":    "玩家-1", // ids travel as their UTF-8 bytes
		"x-gateway-node":      "gw-1",
		"x-gateway-client-ip": "10.1.2.3",
		"x-request-id":        "gw-1-7",
	})
	req, err := gateway.ParseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.Request{
		Cmd: 2001, Seq: 4294967295, Kind: "notify", SessionID: "s-1", PlayerID: "玩家-1",
		Node: "gw-1", ClientIP: "10.1.2.3", RequestID: "gw-1-7", Body: []byte("hello"),
	}
	if !equalRequest(*req, want) {
		t.Fatalf("got %+v, want %+v", *req, want)
	}
}

func TestParseRequestEvent(t *testing.T) {
	r := gatewayPost("", map[string]string{
		"x-gateway-cmd": "0", "x-gateway-seq": "0", "x-gateway-kind": "event",
		"x-gateway-event": "offline", "x-gateway-player": "alice", "x-gateway-session": "s-2",
	})
	req, err := gateway.ParseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if req.Kind != gateway.KindEvent || req.Event != gateway.EventOffline || req.PlayerID != "alice" || len(req.Body) != 0 {
		t.Fatalf("got %+v", *req)
	}
}

func TestParseRequestDefaultsKindAndSeq(t *testing.T) {
	req, err := gateway.ParseRequest(gatewayPost("", map[string]string{"x-gateway-cmd": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if req.Kind != gateway.KindRequest || req.Seq != 0 || req.PlayerID != "" {
		t.Fatalf("got %+v", *req)
	}
}

func TestParseRequestRejections(t *testing.T) {
	big := strings.Repeat("x", gateway.DefaultMaxBodyBytes+1)
	cases := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"no x-gateway-cmd", gatewayPost("", nil), 400},
		{"cmd not a number", gatewayPost("", map[string]string{"x-gateway-cmd": "abc"}), 400},
		{"cmd over u32", gatewayPost("", map[string]string{"x-gateway-cmd": "4294967296"}), 400},
		{"negative seq", gatewayPost("", map[string]string{"x-gateway-cmd": "1", "x-gateway-seq": "-1"}), 400},
		{"GET", httptest.NewRequest(http.MethodGet, "/", nil), 405},
		{"body over the limit", gatewayPost(big, map[string]string{"x-gateway-cmd": "1"}), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := gateway.ParseRequest(c.r)
			var rej *gateway.RejectError
			if !errors.As(err, &rej) || rej.StatusCode != c.status {
				t.Fatalf("got %v, want a RejectError %d", err, c.status)
			}
		})
	}
}

func TestParseRequestBodyOverLimitWithoutContentLength(t *testing.T) {
	// A chunked body: the limit is found while reading, not from content-length.
	r := gatewayPost("", map[string]string{"x-gateway-cmd": "1"})
	r.Body = nopCloser{bytes.NewReader(make([]byte, gateway.DefaultMaxBodyBytes+10))}
	r.ContentLength = -1
	_, err := gateway.ParseRequest(r)
	var rej *gateway.RejectError
	if !errors.As(err, &rej) || rej.StatusCode != 413 {
		t.Fatalf("got %v, want 413", err)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func equalRequest(a, b gateway.Request) bool {
	return bytes.Equal(a.Body, b.Body) && a.Cmd == b.Cmd && a.Seq == b.Seq && a.Kind == b.Kind &&
		a.Event == b.Event && a.SessionID == b.SessionID && a.PlayerID == b.PlayerID &&
		a.Node == b.Node && a.ClientIP == b.ClientIP && a.RequestID == b.RequestID
}
