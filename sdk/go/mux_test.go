package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	gateway "game-gateway/sdk/go"
)

// serve sends a forwarded request for cmd to m and returns the recorder.
func serve(m http.Handler, cmd string, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, gatewayPost(body, map[string]string{"x-gateway-cmd": cmd, "x-request-id": "rid-1"}))
	return rec
}

func quietMux(logs *bytes.Buffer) *gateway.Mux {
	m := gateway.NewMux()
	m.ErrorLog = log.New(logs, "", 0)
	return m
}

func TestMuxErrorMapping(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	fail := func(err error) gateway.HandlerFunc {
		return func(context.Context, *gateway.Request) (*gateway.Reply, error) { return nil, err }
	}
	m.Handle(1, fail(gateway.ErrUnauthorized))
	m.Handle(2, fail(fmt.Errorf("%w: wrong password", gateway.ErrUnauthorized)))
	m.Handle(3, fail(gateway.Reject(409, "name taken")))
	m.Handle(4, fail(gateway.Reject(403, "banned")))
	m.Handle(5, fail(fmt.Errorf("loading: %w", gateway.Reject(422, "bad move"))))
	m.Handle(6, fail(gateway.Reject(503, "not a 4xx")))
	m.Handle(7, fail(errors.New("db is down: secret dsn")))
	m.Handle(8, func(context.Context, *gateway.Request) (*gateway.Reply, error) { panic("nil map") })

	cases := []struct {
		cmd    string
		status int
		body   string
	}{
		{"1", 401, "unauthorized"},
		{"2", 401, "unauthorized: wrong password"},
		{"3", 409, "name taken"},
		{"4", 403, "banned"},
		{"5", 422, "bad move"},
		{"6", 400, "not a 4xx"},
		{"7", 500, "internal error (request rid-1)"},
		{"8", 500, "internal error (request rid-1)"},
		{"9", 404, "no handler for cmd 9"},
	}
	for _, c := range cases {
		rec := serve(m, c.cmd, "")
		if rec.Code != c.status || strings.TrimSpace(rec.Body.String()) != c.body {
			t.Errorf("cmd %s: got %d %q, want %d %q", c.cmd, rec.Code, rec.Body.String(), c.status, c.body)
		}
		if rec.Header().Get("X-Gateway-Bind") != "" {
			t.Errorf("cmd %s: a directive on an error answer", c.cmd)
		}
	}
	// The 500s are logged with what happened; the answers above did not show it.
	for _, want := range []string{"request rid-1", "db is down: secret dsn", "panic: nil map"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestMuxRefusesWhatIsNotFromAGateway(t *testing.T) {
	var logs bytes.Buffer
	m := quietMux(&logs)
	m.Handle(1, func(context.Context, *gateway.Request) (*gateway.Reply, error) {
		t.Error("handler called")
		return nil, nil
	})
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/game/1", strings.NewReader("x")))
	if rec.Code != 400 {
		t.Fatalf("no x-gateway-cmd: got %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/game/1", nil))
	if rec.Code != 405 {
		t.Fatalf("GET: got %d", rec.Code)
	}
	m.MaxBodyBytes = 4
	if rec := serve(m, "1", "12345"); rec.Code != 413 {
		t.Fatalf("body over MaxBodyBytes: got %d", rec.Code)
	}
	if logs.Len() != 0 {
		t.Fatalf("refusals are not backend errors, yet logged: %s", logs.String())
	}
}

func TestMuxRoutesByCmdAndRange(t *testing.T) {
	m := gateway.NewMux()
	answer := func(name string) gateway.HandlerFunc {
		return func(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
			return &gateway.Reply{Body: []byte(fmt.Sprintf("%s %d %s", name, req.Cmd, req.Body))}, nil
		}
	}
	m.HandleRange(2000, 2999, answer("map"))
	m.HandleRange(1000, 1999, answer("login"))
	m.Handle(2500, answer("exact"))
	cases := map[string]string{
		"1000": "login 1000 x", "1999": "login 1999 x", "2000": "map 2000 x",
		"2500": "exact 2500 x", "2999": "map 2999 x",
	}
	for cmd, want := range cases {
		if rec := serve(m, cmd, "x"); rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("cmd %s: got %d %q, want %q", cmd, rec.Code, rec.Body.String(), want)
		}
	}
	for _, cmd := range []string{"999", "3000", "4294967295"} {
		if rec := serve(m, cmd, ""); rec.Code != 404 {
			t.Errorf("cmd %s: got %d, want 404", cmd, rec.Code)
		}
	}
}

func TestMuxNilReplyIsEmpty200(t *testing.T) {
	m := gateway.NewMux()
	m.Handle(1, func(context.Context, *gateway.Request) (*gateway.Reply, error) { return nil, nil })
	if rec := serve(m, "1", "ignored"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestMuxPassesTheRequestContext(t *testing.T) {
	type key struct{}
	m := gateway.NewMux()
	m.Handle(1, func(ctx context.Context, _ *gateway.Request) (*gateway.Reply, error) {
		return &gateway.Reply{Body: []byte(fmt.Sprint(ctx.Value(key{})))}, nil
	})
	r := gatewayPost("", map[string]string{"x-gateway-cmd": "1"})
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), key{}, "from the server")))
	if rec.Body.String() != "from the server" {
		t.Fatalf("got %q", rec.Body.String())
	}
}

func TestMuxRegistrationMistakesPanic(t *testing.T) {
	h := func(context.Context, *gateway.Request) (*gateway.Reply, error) { return nil, nil }
	cases := map[string]func(m *gateway.Mux){
		"duplicate cmd":     func(m *gateway.Mux) { m.Handle(1, h); m.Handle(1, h) },
		"overlapping range": func(m *gateway.Mux) { m.HandleRange(10, 20, h); m.HandleRange(20, 30, h) },
		"range inside":      func(m *gateway.Mux) { m.HandleRange(10, 20, h); m.HandleRange(12, 13, h) },
		"empty range":       func(m *gateway.Mux) { m.HandleRange(5, 4, h) },
		"nil handler":       func(m *gateway.Mux) { m.Handle(1, nil) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(gateway.NewMux())
		})
		t.Run(name+", zero Mux", func(t *testing.T) {
			defer func() {
				if p := recover(); p == nil || strings.Contains(fmt.Sprint(p), "nil map") {
					t.Fatalf("got panic %v, want the registration mistake's", p)
				}
			}()
			f(&gateway.Mux{})
		})
	}
}

func TestZeroMuxIsUsable(t *testing.T) {
	answer := func(name string) gateway.HandlerFunc {
		return func(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
			return &gateway.Reply{Body: []byte(fmt.Sprintf("%s %d", name, req.Cmd))}, nil
		}
	}
	t.Run("a struct literal with options", func(t *testing.T) {
		var logs bytes.Buffer
		m := &gateway.Mux{MaxBodyBytes: 4096, ErrorLog: log.New(&logs, "", 0)}
		// Served before anything is registered: no handler, not a panic.
		if rec := serve(m, "1", ""); rec.Code != 404 {
			t.Fatalf("empty zero Mux: got %d", rec.Code)
		}
		m.Handle(1, answer("one"))
		m.HandleRange(10, 20, answer("range"))
		var events []string
		m.HandleEvent(func(_ context.Context, req *gateway.Request) { events = append(events, req.Event+" "+req.PlayerID) })
		for cmd, want := range map[string]string{"1": "one 1", "15": "range 15"} {
			if rec := serve(m, cmd, "x"); rec.Code != 200 || rec.Body.String() != want {
				t.Errorf("cmd %s: got %d %q, want %q", cmd, rec.Code, rec.Body.String(), want)
			}
		}
		if rec := serve(m, "2", ""); rec.Code != 404 {
			t.Errorf("cmd 2: got %d", rec.Code)
		}
		if rec := serve(m, "1", strings.Repeat("x", 4097)); rec.Code != 413 {
			t.Errorf("body over MaxBodyBytes 4096: got %d", rec.Code)
		}
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, gatewayPost("", map[string]string{"x-gateway-cmd": "0", "x-gateway-kind": "event", "x-gateway-event": "online", "x-gateway-player": "alice"}))
		if rec.Code != 204 || len(events) != 1 || events[0] != "online alice" {
			t.Errorf("event: %d %v", rec.Code, events)
		}
		if logs.Len() != 0 {
			t.Errorf("logged: %s", logs.String())
		}
	})
	t.Run("a Mux variable", func(t *testing.T) {
		var m gateway.Mux
		m.Handle(7, answer("seven"))
		if rec := serve(&m, "7", ""); rec.Code != 200 || rec.Body.String() != "seven 7" {
			t.Fatalf("got %d %q", rec.Code, rec.Body.String())
		}
	})
}

func TestMuxEvents(t *testing.T) {
	event := func(name string) *http.Request {
		return gatewayPost("", map[string]string{
			"x-gateway-cmd": "0", "x-gateway-kind": "event", "x-gateway-event": name,
			"x-gateway-player": "alice", "x-gateway-session": "s-1",
		})
	}
	m := gateway.NewMux()
	m.Handle(0, func(context.Context, *gateway.Request) (*gateway.Reply, error) {
		t.Error("an event reached a cmd handler")
		return nil, nil
	})
	// Without an event handler, events are acknowledged.
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, event("online"))
	if rec.Code != 204 {
		t.Fatalf("no handler: got %d", rec.Code)
	}
	var seen []string
	m.HandleEvent(func(_ context.Context, req *gateway.Request) {
		seen = append(seen, req.Event+" "+req.PlayerID+" "+req.SessionID)
	})
	for _, e := range []string{"online", "offline"} {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, event(e))
		if rec.Code != 204 {
			t.Fatalf("%s: got %d", e, rec.Code)
		}
	}
	if strings.Join(seen, "|") != "online alice s-1|offline alice s-1" {
		t.Fatalf("seen %q", seen)
	}
	var logs bytes.Buffer
	m.ErrorLog = log.New(&logs, "", 0)
	m.HandleEvent(func(context.Context, *gateway.Request) { panic("boom") })
	rec = httptest.NewRecorder()
	m.ServeHTTP(rec, event("online"))
	if rec.Code != 500 || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("a panicking event handler: got %d, log %q", rec.Code, logs.String())
	}
}

func TestMuxNotifyIsHandledLikeARequest(t *testing.T) {
	m := gateway.NewMux()
	got := ""
	m.Handle(5, func(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
		got = req.Kind
		return nil, nil
	})
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, gatewayPost("", map[string]string{"x-gateway-cmd": "5", "x-gateway-kind": "notify"}))
	if rec.Code != 200 || got != gateway.KindNotify {
		t.Fatalf("got %d %q", rec.Code, got)
	}
}

func TestMuxOverRealHTTP(t *testing.T) {
	// Through a real server, the directive headers survive as the gateway reads them.
	m := gateway.NewMux()
	m.Handle(1001, func(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
		return &gateway.Reply{Bind: string(req.Body), Join: []string{"world"}, Body: []byte("welcome")}, nil
	})
	srv := httptest.NewServer(m)
	defer srv.Close()
	r, _ := http.NewRequest(http.MethodPost, srv.URL+"/game/1001", strings.NewReader("玩家"))
	r.Header.Set("x-gateway-cmd", "1001")
	res, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("x-gateway-bind") != "玩家" || res.Header.Get("x-gateway-join") != "world" {
		t.Fatalf("got %d %v", res.StatusCode, res.Header)
	}
}
