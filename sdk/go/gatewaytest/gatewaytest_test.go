package gatewaytest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	gateway "game-gateway/sdk/go"
	"game-gateway/sdk/go/gatewaytest"
)

func TestRequestsParseAsTheGatewaysOwn(t *testing.T) {
	req, err := gateway.ParseRequest(gatewaytest.NewRequest(2001, "alice", []byte(`{"x":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	if req.Cmd != 2001 || req.Kind != gateway.KindRequest || req.PlayerID != "alice" || req.SessionID != gatewaytest.SessionID ||
		req.Node != gatewaytest.Node || req.ClientIP != gatewaytest.ClientIP || req.RequestID == "" || string(req.Body) != `{"x":1}` {
		t.Fatalf("got %+v", req)
	}
	if req, _ := gateway.ParseRequest(gatewaytest.NewRequest(1001, "", nil)); req.PlayerID != "" {
		t.Fatalf("unbound session has player %q", req.PlayerID)
	}
	if req, _ := gateway.ParseRequest(gatewaytest.NewNotify(7, "bob", nil)); req.Kind != gateway.KindNotify {
		t.Fatalf("notify: kind %q", req.Kind)
	}
	ev, _ := gateway.ParseRequest(gatewaytest.NewEvent(gateway.EventOffline, "bob"))
	if ev.Kind != gateway.KindEvent || ev.Event != gateway.EventOffline || ev.PlayerID != "bob" {
		t.Fatalf("event: %+v", ev)
	}
}

func TestServeDecodesTheDirectives(t *testing.T) {
	m := gateway.NewMux()
	m.Handle(1001, func(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
		return &gateway.Reply{Status: 1001, Body: []byte("hi"), Bind: string(req.Body), Join: []string{"world", "lobby"}, Leave: []string{"queue"}, Close: "bye", Unbind: true}, nil
	})
	a := gatewaytest.Serve(m, gatewaytest.NewRequest(1001, "", []byte("alice")))
	r := a.Reply
	if a.StatusCode != 200 || r.Status != 1001 || string(r.Body) != "hi" || r.Bind != "alice" || !r.Unbind ||
		strings.Join(r.Join, ",") != "world,lobby" || strings.Join(r.Leave, ",") != "queue" || r.Close != "bye" {
		t.Fatalf("got %d %+v", a.StatusCode, r)
	}
	if a := gatewaytest.Serve(m, gatewaytest.NewRequest(5, "", nil)); a.StatusCode != 404 || a.Reply.Bind != "" {
		t.Fatalf("unknown cmd: %d", a.StatusCode)
	}
}

func TestFakeAPIAnswersLikeTheGateway(t *testing.T) {
	api := gatewaytest.NewAPI()
	defer api.Close()
	api.Token = "t"
	api.Online("alice")
	api.Offline("bob")
	c, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	res, err := c.Push(ctx, []string{"alice", "bob", "carol"}, 42, []byte("gift"))
	if err != nil || res.Delivered != 1 || res.Cached != 1 || res.Dropped != 1 || res.Results["carol"] != "dropped" {
		t.Fatalf("push: %+v, %v", res, err)
	}
	if res, _ := c.Push(ctx, []string{"bob"}, 42, nil, gateway.NoOffline()); res.Dropped != 1 {
		t.Fatalf("NoOffline: %+v", res)
	}
	if n, _ := c.JoinGroup(ctx, "world", "alice", "bob", "carol"); n != 2 {
		t.Fatalf("join: %d members, want 2 (carol is unknown)", n)
	}
	if n, _ := c.PushGroup(ctx, "world", 5001, []byte("moved")); n != 1 {
		t.Fatalf("group push delivered %d", n)
	}
	if n, _ := c.LeaveGroup(ctx, "world", "bob"); n != 1 || strings.Join(api.Members("world"), ",") != "alice" {
		t.Fatalf("leave: %d, %v", n, api.Members("world"))
	}
	if n, _ := c.Broadcast(ctx, 5003, nil); n != 1 {
		t.Fatalf("broadcast delivered %d", n)
	}
	if p, err := c.Player(ctx, "alice"); err != nil || !p.Online || p.Node != gatewaytest.Node {
		t.Fatalf("player: %+v, %v", p, err)
	}
	if _, err := c.Player(ctx, "carol"); err != gateway.ErrNotFound {
		t.Fatalf("unknown player: %v", err)
	}
	if n, _ := c.Kick(ctx, []string{"alice", "bob"}, "maintenance"); n != 1 {
		t.Fatalf("kick: %d", n)
	}
	if k := api.Kicks(); len(k) != 1 || k[0].Reason != "maintenance" {
		t.Fatalf("kicks %+v", k)
	}
	if p, _ := c.Player(ctx, "alice"); p.Online {
		t.Fatal("alice still online after the kick")
	}

	pushes := api.Pushes()
	kinds := make([]string, len(pushes))
	for i, p := range pushes {
		kinds[i] = p.Kind
	}
	if strings.Join(kinds, ",") != "players,players,group,broadcast" ||
		string(pushes[0].Data) != "gift" || !pushes[0].Offline || pushes[1].Offline || pushes[2].Group != "world" || pushes[2].Cmd != 5001 {
		t.Fatalf("pushes %+v", pushes)
	}

	api.FailNext(http.StatusBadRequest, "invalid_request", "cmd: bad")
	var apiErr *gateway.APIError
	if _, err := c.Broadcast(ctx, 1, nil); !errors.As(err, &apiErr) || apiErr.Code != "invalid_request" {
		t.Fatalf("FailNext: %v", err)
	}
	wrong, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}, Token: "nope"})
	if _, err := wrong.Broadcast(ctx, 1, nil); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestWaitPushes(t *testing.T) {
	api := gatewaytest.NewAPI()
	defer api.Close()
	c, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}})
	go func() {
		for i := 0; i < 3; i++ {
			_, _ = c.Broadcast(context.Background(), uint32(i), nil)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := api.WaitPushes(ctx, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d pushes, %v", len(got), err)
	}
	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := api.WaitPushes(short, 4); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestFakeAPIServesStatsHealthAndMembers(t *testing.T) {
	api := gatewaytest.NewAPI()
	defer api.Close()
	api.Token = "t"
	api.Online("alice", "bob")
	api.Offline("carol")
	c, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}, Token: "t"})
	ctx := context.Background()

	if _, err := c.JoinGroup(ctx, "guild 7", "bob", "alice", "carol", "nobody"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Members(ctx, "guild 7"); err != nil || strings.Join(m, ",") != "alice,bob,carol" {
		t.Fatalf("members: %v, %v", m, err)
	}
	if m, err := c.Members(ctx, "empty"); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("unknown group: %#v, %v", m, err)
	}

	// Two pushes cached for carol: the stats and her offlineQueued count them.
	for i := 0; i < 2; i++ {
		if _, err := c.Push(ctx, []string{"carol"}, 42, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := c.Player(ctx, "carol"); err != nil || p.OfflineQueued != 2 {
		t.Fatalf("carol: %+v, %v", p, err)
	}
	s, err := c.Stats(ctx)
	if err != nil || s.Node != gatewaytest.Node || s.Sessions.Authed != 2 || s.Players.Online != 2 || s.Players.Offline != 1 ||
		s.OfflineMessages != 2 || !s.Ready || s.Errors == nil || len(s.Errors) != 0 || s.Targets != nil {
		t.Fatalf("stats %+v, %v", s, err)
	}
	api.Online("carol") // her login takes the cached pushes
	if s, _ := c.Stats(ctx); s.OfflineMessages != 0 || s.Players.Online != 3 {
		t.Fatalf("after carol's login: %+v", s)
	}

	// /healthz and /readyz need no token, as with the gateway; the rest does.
	noToken, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}})
	if err := noToken.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
	if err := noToken.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	var apiErr *gateway.APIError
	if _, err := noToken.Stats(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("stats without the token: %v", err)
	}

	// An unknown route is the gateway's 404, which Player does not take for an unknown player.
	wrongPath, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL + "/api"}, Token: "t"})
	if _, err := wrongPath.Player(ctx, "alice"); errors.Is(err, gateway.ErrNotFound) || !errors.As(err, &apiErr) ||
		apiErr.StatusCode != 404 || apiErr.Message != "no route /api/v1/players/alice" {
		t.Fatalf("wrong base path: %v", err)
	}
}
