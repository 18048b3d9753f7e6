package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"game-gateway/sdk/go/registry"
)

var inst = registry.Instance{
	ID:        "map-1",
	Name:      "map_service",
	Version:   "1.4.0",
	Metadata:  map[string]string{"region": "eu"},
	Endpoints: []string{"grpc://10.0.0.7:9000", "http://10.0.0.7:8081"},
}

func register(t *testing.T, e *etcdServer, cfg registry.Config, in registry.Instance) *registry.Registration {
	t.Helper()
	cfg.Endpoints = []string{e.clientURL}
	cfg.ErrorLog = log.New(&bytes.Buffer{}, "", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := registry.Register(ctx, cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestKratosLayout(t *testing.T) {
	e := startEtcd(t)
	r := register(t, e, registry.Config{TTL: 5 * time.Second}, inst)
	if r.Key() != "/microservices/map_service/map-1" || !r.Up() {
		t.Fatalf("key %q, up %v", r.Key(), r.Up())
	}
	value, lease, ok := e.get("/microservices/map_service/map-1")
	if !ok || lease == 0 {
		t.Fatalf("record missing or without a lease: %q %d", value, lease)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(value), &got); err != nil {
		t.Fatalf("value %q: %v", value, err)
	}
	want := map[string]any{
		"id": "map-1", "name": "map_service", "version": "1.4.0",
		"metadata":  map[string]any{"region": "eu"},
		"endpoints": []any{"grpc://10.0.0.7:9000", "http://10.0.0.7:8081"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("value %s", value)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.get(r.Key()); ok {
		t.Fatal("the record outlived Close")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestKratosCustomPrefixAndEmptyMetadata(t *testing.T) {
	e := startEtcd(t)
	in := registry.Instance{ID: "a", Name: "login", Endpoints: []string{"http://10.0.0.8:80"}}
	r := register(t, e, registry.Config{Prefix: "/svc/"}, in)
	value, _, ok := e.get("/svc/login/a")
	if !ok || r.Key() != "/svc/login/a" {
		t.Fatalf("key %q", r.Key())
	}
	if value != `{"id":"a","name":"login","version":"","metadata":{},"endpoints":["http://10.0.0.8:80"]}` {
		t.Fatalf("value %s", value)
	}
}

func TestGoZeroLayout(t *testing.T) {
	e := startEtcd(t)
	t.Run("keyed by the lease id, valued host:port", func(t *testing.T) {
		r := register(t, e, registry.Config{Layout: registry.LayoutGoZero}, registry.Instance{Name: "map_service", Endpoints: inst.Endpoints})
		value, lease, ok := e.get(r.Key())
		if !ok || value != "10.0.0.7:8081" || r.Key() != "map_service/"+strconv.FormatInt(lease, 10) {
			t.Fatalf("key %q value %q lease %d", r.Key(), value, lease)
		}
		if keys := e.keys("map_service/"); len(keys) != 1 {
			t.Fatalf("keys %v", keys)
		}
		_ = r.Close()
		if keys := e.keys("map_service/"); len(keys) != 0 {
			t.Fatalf("after Close: %v", keys)
		}
	})
	t.Run("the scheme's port when the endpoint names none", func(t *testing.T) {
		r := register(t, e, registry.Config{Layout: registry.LayoutGoZero},
			registry.Instance{ID: "1", Name: "web", Endpoints: []string{"https://api.example.com/v1", "http://[::1]:8080"}})
		if value, _, ok := e.get(r.Key()); !ok || value != "api.example.com:443" {
			t.Fatalf("value %q", value)
		}
	})
	t.Run("an ID and a prefix, host:port given without a scheme", func(t *testing.T) {
		r := register(t, e, registry.Config{Layout: registry.LayoutGoZero, Prefix: "games."},
			registry.Instance{ID: "7", Name: "chat", Endpoints: []string{"10.0.0.9:7000"}})
		if value, _, ok := e.get("games.chat/7"); !ok || value != "10.0.0.9:7000" || r.Key() != "games.chat/7" {
			t.Fatalf("key %q value %q", r.Key(), value)
		}
	})
}

func TestKeepAliveHoldsTheRecordPastItsTTL(t *testing.T) {
	e := startEtcd(t)
	r := register(t, e, registry.Config{TTL: 2 * time.Second}, inst)
	_, lease, _ := e.get(r.Key())
	time.Sleep(5 * time.Second) // more than twice the TTL: only renewals keep it
	_, after, ok := e.get(r.Key())
	if !ok || after != lease || !r.Up() {
		t.Fatalf("record present %v, lease %d → %d, up %v", ok, lease, after, r.Up())
	}
}

func TestReRegistersAfterEtcdLostItsData(t *testing.T) {
	e := startEtcd(t)
	for _, layout := range []string{registry.LayoutKratos, registry.LayoutGoZero} {
		t.Run(layout, func(t *testing.T) {
			r := register(t, e, registry.Config{Layout: layout, TTL: 2 * time.Second}, registry.Instance{Name: "map_service", ID: idFor(layout), Endpoints: inst.Endpoints})
			// The fresh etcd knows neither the record nor its lease: only a new
			// grant and put can bring the record back.
			e.restartEmpty()
			waitFor(t, "the record back in etcd", func() bool {
				_, _, ok := e.get(r.Key())
				return ok
			})
			waitFor(t, "Up", r.Up)
			if layout == registry.LayoutGoZero && !strings.HasPrefix(r.Key(), "map_service/") {
				t.Fatalf("key %q", r.Key())
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, ok := e.get(r.Key()); ok {
				t.Fatal("the new record outlived Close")
			}
		})
	}
}

func idFor(layout string) string {
	if layout == registry.LayoutKratos {
		return "map-1"
	}
	return "" // the lease id, which changes with the new lease
}

func TestEtcdDownWhileRegistered(t *testing.T) {
	e := startEtcd(t)
	r := register(t, e, registry.Config{TTL: 2 * time.Second}, inst)
	e.kill()
	waitFor(t, "Up false while etcd is down", func() bool { return !r.Up() })
	// Close returns (with the revoke's error) rather than waiting for etcd.
	if err := r.Close(); err == nil {
		t.Fatal("Close reported a revoke that cannot have happened")
	}
}

func TestRegisterFailsWhenEtcdIsUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := registry.Register(ctx, registry.Config{Endpoints: []string{"http://" + freeAddr(t)}}, inst)
	if err == nil || !strings.Contains(err.Error(), "granting a lease") {
		t.Fatalf("got %v", err)
	}
}

func TestConfigMistakes(t *testing.T) {
	ctx := context.Background()
	ok := registry.Config{Endpoints: []string{"http://127.0.0.1:1"}}
	cases := map[string]struct {
		cfg  registry.Config
		inst registry.Instance
		want string
	}{
		"no endpoints":       {registry.Config{}, inst, "Endpoints is empty"},
		"endpoint not a URL": {registry.Config{Endpoints: []string{"127.0.0.1:2379"}}, inst, "not an http(s) URL"},
		"unknown layout":     {registry.Config{Endpoints: ok.Endpoints, Layout: "consul"}, inst, "unknown layout"},
		"no name":            {ok, registry.Instance{ID: "x"}, "Name is empty"},
		"kratos without id":  {ok, registry.Instance{Name: "x"}, "ID is empty"},
		"go-zero, no http":   {registry.Config{Endpoints: ok.Endpoints, Layout: registry.LayoutGoZero}, registry.Instance{Name: "x", Endpoints: []string{"grpc://h:1"}}, "needs an http:// endpoint"},
		"ttl under a second": {registry.Config{Endpoints: ok.Endpoints, TTL: time.Millisecond}, inst, "under one second"},
	}
	for name, c := range cases {
		if _, err := registry.Register(ctx, c.cfg, c.inst); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}

func TestEtcdWithAuthentication(t *testing.T) {
	// Tokens live one second without use, so the test sees one expire.
	e := startEtcd(t, "--auth-token-ttl", "1")
	e.enableAuth("s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	quiet := log.New(&bytes.Buffer{}, "", 0)
	for name, cfg := range map[string]registry.Config{
		"no user":        {},
		"wrong password": {Username: "root", Password: "nope"},
	} {
		cfg.Endpoints, cfg.ErrorLog = []string{e.clientURL}, quiet
		if _, err := registry.Register(ctx, cfg, inst); err == nil {
			t.Fatalf("%s: registered", name)
		}
	}
	r, err := registry.Register(ctx, registry.Config{Endpoints: []string{e.clientURL}, Username: "root", Password: "s3cret", ErrorLog: quiet}, inst)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.get(r.Key()); !ok {
		t.Fatal("no record")
	}
	time.Sleep(2 * time.Second) // the token expires; revoking needs a new one
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.get(r.Key()); ok {
		t.Fatal("the record outlived Close")
	}
}

func TestNothingLeftRunningAfterClose(t *testing.T) {
	e := startEtcd(t)
	// The helpers (startEtcd's health check, e.get) use http.DefaultTransport:
	// drop its idle connections so that the count starts from what is running now.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	settle := func() int {
		time.Sleep(50 * time.Millisecond) // let closed connections' goroutines end
		return runtime.NumGoroutine()
	}
	before := settle()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := registry.Config{Endpoints: []string{e.clientURL}, TTL: time.Second, ErrorLog: log.New(&bytes.Buffer{}, "", 0)}
	r, err := registry.Register(ctx, cfg, inst)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a keep-alive or two on the pooled connection
	if got, err := registry.Lookup(ctx, cfg, inst.Name); err != nil || len(got) != 1 {
		t.Fatalf("lookup: %v, %v", got, err)
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("%d goroutines while registered, %d before: the keep-alive loop should be one of them", n, before)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Close ended the keep-alive loop and closed the idle connections to etcd;
	// Lookup closed its own when it returned.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseLeavesACallersHTTPClientAlone(t *testing.T) {
	e := startEtcd(t)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	var dials atomic.Int32
	dial := transport.DialContext
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	hc := &http.Client{Transport: transport}
	r := register(t, e, registry.Config{HTTPClient: hc}, inst)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The caller's pooled connection is still open: the next call reuses it.
	before := dials.Load()
	res, err := hc.Get(e.clientURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if dials.Load() != before {
		t.Fatalf("the caller's idle connection was closed by Close (%d dials, %d before)", dials.Load(), before)
	}
}
