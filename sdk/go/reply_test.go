package gateway_test

import (
	"net/http/httptest"
	"testing"

	gateway "game-gateway/sdk/go"
)

func TestReplyWritesEveryDirective(t *testing.T) {
	rec := httptest.NewRecorder()
	(&gateway.Reply{
		Status: 1042,
		Body:   []byte(`{"ok":true}`),
		Bind:   "alice",
		Unbind: true,
		Join:   []string{"world", " map-3 ", ""},
		Leave:  []string{"lobby"},
		Close:  "see you",
	}).Write(rec)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	want := map[string]string{
		"Content-Type":     "application/octet-stream",
		"Content-Length":   "11",
		"X-Gateway-Status": "1042",
		"X-Gateway-Bind":   "alice",
		"X-Gateway-Unbind": "1",
		"X-Gateway-Join":   "world,map-3",
		"X-Gateway-Leave":  "lobby",
		"X-Gateway-Close":  "see you",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	if rec.Body.String() != `{"ok":true}` {
		t.Errorf("body %q", rec.Body.String())
	}
}

func TestEmptyReplySetsNoDirective(t *testing.T) {
	for name, r := range map[string]*gateway.Reply{"nil": nil, "zero": {}, "status under 1000": {Status: 999}} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.Write(rec)
			if rec.Code != 200 || rec.Body.Len() != 0 {
				t.Fatalf("got %d %q", rec.Code, rec.Body.String())
			}
			for _, h := range []string{"X-Gateway-Status", "X-Gateway-Bind", "X-Gateway-Unbind", "X-Gateway-Join", "X-Gateway-Leave", "X-Gateway-Close"} {
				if v, ok := rec.Header()[h]; ok {
					t.Errorf("%s set to %q", h, v)
				}
			}
		})
	}
}

func TestReplyStatusMax(t *testing.T) {
	rec := httptest.NewRecorder()
	(&gateway.Reply{Status: 65535}).Write(rec)
	if got := rec.Header().Get("X-Gateway-Status"); got != "65535" {
		t.Fatalf("got %q", got)
	}
}
