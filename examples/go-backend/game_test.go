package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gateway "game-gateway/sdk/go"
	"game-gateway/sdk/go/gatewaytest"
)

// newTestGame is the game with its pushes going to a fake gateway API.
func newTestGame(t *testing.T) (*Game, *gateway.Mux, *gatewaytest.API) {
	t.Helper()
	api := gatewaytest.NewAPI()
	t.Cleanup(api.Close)
	client, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{api.URL}})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGame(client)
	return g, g.Mux(), api
}

func TestLoginBindsAndJoinsTheWorld(t *testing.T) {
	_, mux, _ := newTestGame(t)
	a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLogin, "", []byte("alice")))
	if a.StatusCode != 200 || a.Reply.Bind != "alice" || strings.Join(a.Reply.Join, ",") != world {
		t.Fatalf("got %d %+v", a.StatusCode, a.Reply)
	}
	if string(a.Reply.Body) != `{"player":"alice","position":{"x":0,"y":0}}` {
		t.Fatalf("body %s", a.Reply.Body)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLogin, "", []byte("玩家一号"))); a.Reply.Bind != "玩家一号" {
		t.Fatalf("a name in another script: %d %+v", a.StatusCode, a.Reply)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLogin, "", []byte("no spaces allowed"))); a.StatusCode != 401 {
		t.Fatalf("bad name: got %d", a.StatusCode)
	}
}

func TestMovePushesToTheWorld(t *testing.T) {
	g, mux, api := newTestGame(t)
	gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLogin, "", []byte("alice")))
	a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdMove, "alice", []byte(`{"x":3,"y":4}`)))
	if a.StatusCode != 200 {
		t.Fatalf("got %d", a.StatusCode)
	}
	pushes := api.Pushes()
	if len(pushes) != 1 || pushes[0].Kind != "group" || pushes[0].Group != world || pushes[0].Cmd != PushMoved ||
		string(pushes[0].Data) != `{"player":"alice","x":3,"y":4}` {
		t.Fatalf("pushes %+v", pushes)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdMove, "alice", []byte("north"))); a.StatusCode != 400 {
		t.Fatalf("bad move: got %d", a.StatusCode)
	}
	if look := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLook, "alice", nil)); string(look.Reply.Body) != `{"alice":{"x":3,"y":4}}` {
		t.Fatalf("look %s", look.Reply.Body)
	}
	// Going offline takes the player off the map and tells the others.
	if a := gatewaytest.Serve(mux, gatewaytest.NewEvent(gateway.EventOffline, "alice")); a.StatusCode != 204 {
		t.Fatalf("event: %d", a.StatusCode)
	}
	if len(g.players()) != 0 {
		t.Fatalf("still on the map: %v", g.players())
	}
	if p := api.Pushes(); len(p) != 2 || p[1].Cmd != PushLeft {
		t.Fatalf("pushes %+v", p)
	}
}

func TestWhisper(t *testing.T) {
	_, mux, api := newTestGame(t)
	api.Online("bob")
	a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdWhisper, "alice", []byte(`{"to":"bob","text":"psst"}`)))
	var out map[string]string
	_ = json.Unmarshal(a.Reply.Body, &out)
	if a.StatusCode != 200 || out["result"] != "delivered" {
		t.Fatalf("got %d %s", a.StatusCode, a.Reply.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pushes, err := api.WaitPushes(ctx, 1)
	if err != nil || pushes[0].Players[0] != "bob" || string(pushes[0].Data) != `{"from":"alice","text":"psst"}` {
		t.Fatalf("pushes %+v, %v", pushes, err)
	}
	a = gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdWhisper, "alice", []byte(`{"to":"zed","text":"?"}`)))
	if a.StatusCode != 200 || a.Reply.Status != StatusNoSuchPlayer {
		t.Fatalf("unknown player: %d status %d", a.StatusCode, a.Reply.Status)
	}
}

func TestSayEchoQuitLogout(t *testing.T) {
	_, mux, api := newTestGame(t)
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdSay, "alice", []byte("hi"))); a.StatusCode != 200 {
		t.Fatalf("say: %d", a.StatusCode)
	}
	if p := api.Pushes(); len(p) != 1 || p[0].Kind != "broadcast" || string(p[0].Data) != `{"player":"alice","text":"hi"}` {
		t.Fatalf("pushes %+v", p)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdEcho, "alice", []byte("round trip"))); string(a.Reply.Body) != "round trip" {
		t.Fatalf("echo %q", a.Reply.Body)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdQuit, "alice", nil)); a.Reply.Close != "quit" {
		t.Fatalf("quit %+v", a.Reply)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(CmdLogout, "alice", nil)); !a.Reply.Unbind {
		t.Fatalf("logout %+v", a.Reply)
	}
	if a := gatewaytest.Serve(mux, gatewaytest.NewRequest(3000, "alice", nil)); a.StatusCode != 404 {
		t.Fatalf("unknown cmd: %d", a.StatusCode)
	}
}
