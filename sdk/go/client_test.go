package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gateway "game-gateway/sdk/go"
)

// seen is one request an API stub received.
type seen struct {
	method, path, auth, contentType string
	body                            map[string]any
}

// stubAPI answers every request with status and answer, recording what it got.
func stubAPI(t *testing.T, status int, answer string) (*httptest.Server, *[]seen) {
	t.Helper()
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.EscapedPath(), auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if data, _ := io.ReadAll(r.Body); len(data) > 0 {
			if err := json.Unmarshal(data, &s.body); err != nil {
				t.Errorf("body is not JSON: %q", data)
			}
		}
		got = append(got, s)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func newClient(t *testing.T, addrs ...string) *gateway.Client {
	t.Helper()
	c, err := gateway.NewClient(gateway.ClientConfig{Addrs: addrs, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deadAddr is an address where nothing listens: connecting is refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestPushSendsTheAPIsJSON(t *testing.T) {
	srv, got := stubAPI(t, 200, `{"delivered":1,"cached":1,"dropped":1,"results":{"a":"delivered","b":"cached","c":"dropped"}}`)
	c := newClient(t, srv.URL+"/") // a trailing slash is fine
	res, err := c.Push(context.Background(), []string{"a", "b", "c"}, 2001, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 1 || res.Cached != 1 || res.Dropped != 1 || res.Results["b"] != "cached" {
		t.Fatalf("got %+v", res)
	}
	s := (*got)[0]
	if s.method != "POST" || s.path != "/v1/push" || s.auth != "Bearer s3cret" || s.contentType != "application/json" {
		t.Fatalf("got %+v", s)
	}
	if s.body["data"] != "aGVsbG8=" || s.body["cmd"] != float64(2001) || len(s.body["players"].([]any)) != 3 {
		t.Fatalf("body %v", s.body)
	}
	if _, set := s.body["offline"]; set {
		t.Fatalf("offline sent without NoOffline: %v", s.body)
	}

	if _, err := c.Push(context.Background(), []string{"a"}, 1, nil, gateway.NoOffline()); err != nil {
		t.Fatal(err)
	}
	if b := (*got)[1].body; b["offline"] != false || b["data"] != "" {
		t.Fatalf("NoOffline, no data: body %v", b)
	}
}

func TestEveryRoute(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, answer, method, path string
		call                       func(c *gateway.Client) (int, error)
		want                       int
		body                       string
	}{
		{"broadcast", `{"delivered":7}`, "POST", "/v1/broadcast",
			func(c *gateway.Client) (int, error) { return c.Broadcast(ctx, 3001, []byte("hi")) }, 7, `{"cmd":3001,"data":"aGk="}`},
		{"group push", `{"delivered":3}`, "POST", "/v1/groups/guild%207/push",
			func(c *gateway.Client) (int, error) { return c.PushGroup(ctx, "guild 7", 4001, []byte("hi")) }, 3, `{"cmd":4001,"data":"aGk="}`},
		{"join", `{"members":2}`, "PUT", "/v1/groups/world/members",
			func(c *gateway.Client) (int, error) { return c.JoinGroup(ctx, "world", "a", "b") }, 2, `{"players":["a","b"]}`},
		{"leave", `{"members":1}`, "DELETE", "/v1/groups/world/members",
			func(c *gateway.Client) (int, error) { return c.LeaveGroup(ctx, "world", "b") }, 1, `{"players":["b"]}`},
		{"kick", `{"kicked":1}`, "POST", "/v1/kick",
			func(c *gateway.Client) (int, error) { return c.Kick(ctx, []string{"a"}, "cheating") }, 1, `{"players":["a"],"reason":"cheating"}`},
		{"kick, default reason", `{"kicked":0}`, "POST", "/v1/kick",
			func(c *gateway.Client) (int, error) { return c.Kick(ctx, []string{"a"}, "") }, 0, `{"players":["a"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := stubAPI(t, 200, tc.answer)
			n, err := tc.call(newClient(t, srv.URL))
			if err != nil || n != tc.want {
				t.Fatalf("got %d, %v; want %d", n, err, tc.want)
			}
			s := (*got)[0]
			body, _ := json.Marshal(s.body)
			if s.method != tc.method || s.path != tc.path || s.auth != "Bearer s3cret" || string(body) != tc.body {
				t.Fatalf("got %s %s %s %s", s.method, s.path, s.auth, body)
			}
		})
	}
}

func TestPlayer(t *testing.T) {
	srv, got := stubAPI(t, 200, `{"playerId":"ann marie","online":true,"node":"gw-1","sessionId":"9484ac210","lastActiveAt":"2026-11-24T03:20:45.179Z","offlineQueued":2,"pushSeq":4}`)
	p, err := newClient(t, srv.URL).Player(context.Background(), "ann marie")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 24, 3, 20, 45, 179e6, time.UTC)
	if p.PlayerID != "ann marie" || !p.Online || p.Node != "gw-1" || p.SessionID != "9484ac210" ||
		!p.LastActiveAt.Equal(want) || p.OfflineQueued != 2 || p.PushSeq != 4 {
		t.Fatalf("got %+v", p)
	}
	if s := (*got)[0]; s.method != "GET" || s.path != "/v1/players/ann%20marie" {
		t.Fatalf("got %+v", s)
	}

	offline, _ := stubAPI(t, 200, `{"playerId":"b","online":false,"node":null,"sessionId":null,"lastActiveAt":"2026-11-24T03:20:45.179Z","offlineQueued":0,"pushSeq":0}`)
	if p, err := newClient(t, offline.URL).Player(context.Background(), "b"); err != nil || p.Online || p.Node != "" || p.SessionID != "" {
		t.Fatalf("offline: got %+v, %v", p, err)
	}

	unknown, _ := stubAPI(t, 404, `{"error":"not_found","message":"player zed is not known to this gateway"}`)
	if _, err := newClient(t, unknown.URL).Player(context.Background(), "zed"); err != gateway.ErrNotFound {
		t.Fatalf("unknown: got %v, want ErrNotFound", err)
	}
}

func TestPlayerTellsAWrongRouteFromAnUnknownPlayer(t *testing.T) {
	cases := map[string]struct {
		answer string
		code   string
	}{
		// The gateway's 404 for a path no route matches: Addrs has a base path it does not serve.
		"unknown route": {`{"error":"not_found","message":"no route /api/v1/players/zed"}`, "not_found"},
		// A 404 that is not the API's JSON: something else answered.
		"not the API": {`<html>404 Not Found</html>`, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, _ := stubAPI(t, 404, tc.answer)
			_, err := newClient(t, srv.URL+"/api").Player(context.Background(), "zed")
			var apiErr *gateway.APIError
			if errors.Is(err, gateway.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != tc.code {
				t.Fatalf("got %v, want an *APIError 404 %q and not ErrNotFound", err, tc.code)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	srv, got := stubAPI(t, 200, `{"group":"guild 7","count":2,"members":["alice","bob"]}`)
	members, err := newClient(t, srv.URL).Members(context.Background(), "guild 7")
	if err != nil || strings.Join(members, ",") != "alice,bob" {
		t.Fatalf("got %v, %v", members, err)
	}
	if s := (*got)[0]; s.method != "GET" || s.path != "/v1/groups/guild%207/members" || s.auth != "Bearer s3cret" || s.body != nil {
		t.Fatalf("got %+v", s)
	}

	// An unknown group is an empty list (200), never nil.
	empty, _ := stubAPI(t, 200, `{"group":"nobody","count":0,"members":[]}`)
	if members, err := newClient(t, empty.URL).Members(context.Background(), "nobody"); err != nil || members == nil || len(members) != 0 {
		t.Fatalf("empty group: got %#v, %v", members, err)
	}
	// So a 404 is the route's: an *APIError.
	noRoute, _ := stubAPI(t, 404, `{"error":"not_found","message":"no route /v1/groups/g/members"}`)
	var apiErr *gateway.APIError
	if _, err := newClient(t, noRoute.URL).Members(context.Background(), "g"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("404: got %v", err)
	}
}

func TestStatsAndReady(t *testing.T) {
	// docs/push-api.md's example, with the targets a gateway with registry.etcd adds.
	srv, got := stubAPI(t, 200, `{"node":"gw-1","sessions":{"connected":3,"authed":1520},"players":{"online":1520,"offline":88},"offlineMessages":412,"requestsInFlight":7,"requests":{"success":918274,"error":311,"drop":52},"errors":{"backend_timeout":240,"route_not_found":52,"backend_error":71},"ready":true,`+
		`"targets":{"map_service":{"service":"map_service","read":true,"instances":[{"id":"map-1","baseUrl":"http://10.0.0.7:8000"}]}}}`)
	c := newClient(t, srv.URL)
	s, err := c.Stats(context.Background())
	if err != nil || s.Node != "gw-1" || s.Sessions.Authed != 1520 || s.Players.Offline != 88 || s.OfflineMessages != 412 || s.RequestsInFlight != 7 || s.Requests.Success != 918274 || s.Requests.Drop != 52 || !s.Ready {
		t.Fatalf("got %+v, %v", s, err)
	}
	if len(s.Errors) != 3 || s.Errors["backend_timeout"] != 240 || s.Errors["route_not_found"] != 52 || s.Errors["backend_error"] != 71 {
		t.Fatalf("errors %v", s.Errors)
	}
	want := map[string]gateway.DiscoveredTarget{"map_service": {Service: "map_service", Read: true,
		Instances: []gateway.DiscoveredInstance{{ID: "map-1", BaseURL: "http://10.0.0.7:8000"}}}}
	if !reflect.DeepEqual(s.Targets, want) {
		t.Fatalf("targets %+v", s.Targets)
	}
	if r := (*got)[0]; r.method != "GET" || r.path != "/v1/stats" {
		t.Fatalf("got %+v", r)
	}
	// Without registry.etcd the gateway sends no targets; no error counted yet: {}.
	plain, _ := stubAPI(t, 200, `{"node":"gw-1","sessions":{"connected":0,"authed":0},"players":{"online":0,"offline":0},"offlineMessages":0,"requestsInFlight":0,"requests":{"success":0,"error":0,"drop":0},"errors":{},"ready":true}`)
	if s, err := newClient(t, plain.URL).Stats(context.Background()); err != nil || s.Targets != nil || s.Errors == nil || len(s.Errors) != 0 {
		t.Fatalf("without a registry: %+v, %v", s, err)
	}
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	draining, _ := stubAPI(t, 503, `{"status":"not_ready"}`)
	var apiErr *gateway.APIError
	if err := newClient(t, draining.URL).Ready(context.Background()); !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != "not_ready" {
		t.Fatalf("draining: got %v", err)
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	long := strings.Repeat("x", 2000)
	cases := []struct {
		status        int
		answer        string
		code, message string
	}{
		{400, `{"error":"invalid_request","message":"players: players must name at least one player"}`, "invalid_request", "players: players must name at least one player"},
		{401, `{"error":"unauthorized","message":"missing or wrong bearer token"}`, "unauthorized", "missing or wrong bearer token"},
		{404, `{"error":"not_found","message":"no route"}`, "not_found", "no route"},
		{405, `{"error":"method_not_allowed","message":"GET not allowed"}`, "method_not_allowed", "GET not allowed"},
		{413, `{"error":"payload_too_large","message":"body over 1048576 bytes"}`, "payload_too_large", "body over 1048576 bytes"},
		{500, `{"error":"internal","message":"a bug"}`, "internal", "a bug"},
		{502, `<html>Bad Gateway</html>`, "", "<html>Bad Gateway</html>"},
		{503, ``, "", "Service Unavailable"},
		{500, long, "", long[:512] + "…"},
	}
	for _, tc := range cases {
		srv, _ := stubAPI(t, tc.status, tc.answer)
		_, err := newClient(t, srv.URL).Broadcast(context.Background(), 1, nil)
		var apiErr *gateway.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%d: got %v, want an *APIError", tc.status, err)
		}
		if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message != tc.message {
			t.Errorf("%d: got %+v", tc.status, apiErr)
		}
		if !strings.Contains(apiErr.Error(), "HTTP ") {
			t.Errorf("Error() %q", apiErr.Error())
		}
	}
}

func TestFailoverOnConnectionErrorsOnly(t *testing.T) {
	t.Run("a refused address is skipped, and the next call starts at the one that answered", func(t *testing.T) {
		srv, got := stubAPI(t, 200, `{"delivered":1}`)
		c := newClient(t, deadAddr(t), srv.URL)
		for i := 0; i < 3; i++ {
			if n, err := c.Broadcast(context.Background(), 1, nil); err != nil || n != 1 {
				t.Fatalf("call %d: %d, %v", i, n, err)
			}
		}
		if len(*got) != 3 {
			t.Fatalf("the live address got %d calls", len(*got))
		}
	})
	t.Run("unknown host (DNS) is skipped", func(t *testing.T) {
		srv, got := stubAPI(t, 200, `{"delivered":1}`)
		c := newClient(t, "http://no-such-host.invalid:7002", srv.URL)
		if _, err := c.Broadcast(context.Background(), 1, nil); err != nil || len(*got) != 1 {
			t.Fatalf("%v, %d calls", err, len(*got))
		}
	})
	for _, status := range []int{400, 401, 404, 413, 500, 503} {
		status := status
		t.Run("never after an HTTP answer: "+http.StatusText(status), func(t *testing.T) {
			first, firstGot := stubAPI(t, status, `{"error":"x","message":"y"}`)
			second, secondGot := stubAPI(t, 200, `{"delivered":1}`)
			_, err := newClient(t, first.URL, second.URL).Broadcast(context.Background(), 1, nil)
			var apiErr *gateway.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("got %v", err)
			}
			if len(*firstGot) != 1 || len(*secondGot) != 0 {
				t.Fatalf("calls: first %d, second %d", len(*firstGot), len(*secondGot))
			}
		})
	}
	t.Run("never after the request was sent: a timeout waiting for the answer", func(t *testing.T) {
		release := make(chan struct{})
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer hung.Close()
		defer close(release)
		second, secondGot := stubAPI(t, 200, `{"delivered":1}`)
		c, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{hung.URL, second.URL}, Timeout: 200 * time.Millisecond})
		_, err := c.Broadcast(context.Background(), 1, nil)
		if !errors.Is(err, context.DeadlineExceeded) || len(*secondGot) != 0 {
			t.Fatalf("got %v, second %d calls", err, len(*secondGot))
		}
	})
	t.Run("every address down: the last connection error", func(t *testing.T) {
		_, err := newClient(t, deadAddr(t), deadAddr(t)).Kick(context.Background(), []string{"a"}, "")
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestContextIsHonoured(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
	}))
	defer hung.Close()
	defer close(release)
	c := newClient(t, hung.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := c.Push(ctx, []string{"a"}, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// An already cancelled context sends nothing.
	if _, err := c.Broadcast(ctx, 1, nil); !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
}

func TestAnswersAreReadWithALimit(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"delivered":1,"pad":"`)
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB, more than any API answer
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	_, err := newClient(t, huge.URL).Broadcast(context.Background(), 1, nil)
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("got %v", err)
	}
}

func TestNewClientChecksAddrs(t *testing.T) {
	for _, addrs := range [][]string{nil, {"127.0.0.1:7002"}, {"ftp://x"}, {"http://"}} {
		if _, err := gateway.NewClient(gateway.ClientConfig{Addrs: addrs}); err == nil {
			t.Errorf("%q accepted", addrs)
		}
	}
}

func TestNoGoroutineLeftBehind(t *testing.T) {
	srv, _ := stubAPI(t, 200, `{"delivered":1}`)
	transport := &http.Transport{}
	before := runtime.NumGoroutine()
	c, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{deadAddr(t), srv.URL}, HTTPClient: &http.Client{Transport: transport}})
	for i := 0; i < 20; i++ {
		if _, err := c.Broadcast(context.Background(), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = c.Broadcast(ctx, 1, nil)
	// What is left is the pooled keep-alive connection; closing it must leave nothing.
	transport.CloseIdleConnections()
	srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseIdleConnections(t *testing.T) {
	srv, _ := stubAPI(t, 200, `{"delivered":1}`)
	before := runtime.NumGoroutine()
	// The SDK's own HTTP client: no HTTPClient given.
	c, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Broadcast(context.Background(), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.NumGoroutine() <= before {
		t.Fatalf("no pooled connection after the calls (%d goroutines, %d before)", runtime.NumGoroutine(), before)
	}
	c.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after CloseIdleConnections, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The Client stays usable: the next call dials again.
	if n, err := c.Broadcast(context.Background(), 1, nil); err != nil || n != 1 {
		t.Fatalf("after CloseIdleConnections: %d, %v", n, err)
	}
	c.CloseIdleConnections()

	// With the caller's HTTPClient, it is that client's idle connections that close.
	transport := &http.Transport{}
	var dials atomic.Int32
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	own, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{srv.URL}, HTTPClient: &http.Client{Transport: transport}})
	for i := 0; i < 2; i++ {
		_, _ = own.Broadcast(context.Background(), 1, nil)
	}
	own.CloseIdleConnections()
	_, _ = own.Broadcast(context.Background(), 1, nil)
	if dials.Load() != 2 {
		t.Fatalf("%d dials: want one before CloseIdleConnections (reused) and one after", dials.Load())
	}
	transport.CloseIdleConnections()
}
