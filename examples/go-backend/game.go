package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"regexp"
	"sort"
	"strings"
	"sync"

	gateway "game-gateway/sdk/go"
)

// Cmds the clients send (the same numbers as examples/backend.ts, so the demo
// page and scripted client work against either backend).
const (
	CmdLogin   = 1001 // body: player name → bind the session, join "world"
	CmdLogout  = 1002 // → unbind
	CmdMove    = 2001 // body: {"x":n,"y":n} → MOVED pushed to everyone in "world"
	CmdLook    = 2002 // → every player's position, as JSON
	CmdSay     = 2003 // body: text → SAID broadcast to everyone online
	CmdEcho    = 2004 // → the body, unchanged
	CmdWhisper = 2005 // body: {"to":id,"text":s} → WHISPERED pushed to one player
	CmdQuit    = 2006 // → the gateway kicks the session after answering
)

// Push cmds the backend sends.
const (
	PushMoved     = 5001
	PushLeft      = 5002
	PushSaid      = 5003
	PushWhispered = 5004
)

// StatusNoSuchPlayer is the application status of a whisper to a player the
// gateway does not know; the client gets it in the RESPONSE, with a body.
const StatusNoSuchPlayer = 1404

const world = "world"

// A player name is letters of any script, digits, _ or -: ids are UTF-8, and
// the gateway carries them as such in headers and in its API.
var playerName = regexp.MustCompile(`^[\p{L}\p{N}_-]{1,32}$`)

type position struct {
	X int `json:"x"`
	Y int `json:"y"`
}

// Game is the whole game: who is where. Pushes go through the gateway's API.
type Game struct {
	api *gateway.Client

	mu        sync.Mutex
	positions map[string]position
}

func NewGame(api *gateway.Client) *Game {
	return &Game{api: api, positions: make(map[string]position)}
}

// Mux routes the gateway's requests to the game's handlers.
func (g *Game) Mux() *gateway.Mux {
	m := gateway.NewMux()
	m.Handle(CmdLogin, g.login)
	m.Handle(CmdLogout, g.logout)
	m.Handle(CmdMove, g.move)
	m.Handle(CmdLook, g.look)
	m.Handle(CmdSay, g.say)
	m.Handle(CmdEcho, g.echo)
	m.Handle(CmdWhisper, g.whisper)
	m.Handle(CmdQuit, g.quit)
	m.HandleEvent(g.event)
	return m
}

func (g *Game) login(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
	name := strings.TrimSpace(string(req.Body))
	if !playerName.MatchString(name) {
		return nil, fmt.Errorf("%w: a player name is 1-32 letters, digits, _ or -", gateway.ErrUnauthorized)
	}
	g.mu.Lock()
	pos := g.positions[name] // a returning player keeps its place
	g.positions[name] = pos
	g.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"player": name, "position": pos})
	// Join on the login answer itself: the gateway binds first, then joins.
	return &gateway.Reply{Bind: name, Join: []string{world}, Body: body}, nil
}

func (g *Game) logout(context.Context, *gateway.Request) (*gateway.Reply, error) {
	return &gateway.Reply{Unbind: true}, nil
}

func (g *Game) move(ctx context.Context, req *gateway.Request) (*gateway.Reply, error) {
	var to position
	if err := json.Unmarshal(req.Body, &to); err != nil {
		return nil, gateway.Reject(400, `body must be {"x":n,"y":n}`)
	}
	g.mu.Lock()
	g.positions[req.PlayerID] = to
	g.mu.Unlock()
	moved, _ := json.Marshal(map[string]any{"player": req.PlayerID, "x": to.X, "y": to.Y})
	// Everyone on the map sees the step. A failed push does not undo the move:
	// the next one corrects the picture, so it is logged, not answered.
	if _, err := g.api.PushGroup(ctx, world, PushMoved, moved); err != nil {
		log.Printf("move %s: pushing to %s: %v", req.PlayerID, world, err)
	}
	return &gateway.Reply{Body: []byte(`{"ok":true}`)}, nil
}

func (g *Game) look(context.Context, *gateway.Request) (*gateway.Reply, error) {
	g.mu.Lock()
	body, err := json.Marshal(g.positions) // map keys come out sorted
	g.mu.Unlock()
	return &gateway.Reply{Body: body}, err
}

func (g *Game) say(ctx context.Context, req *gateway.Request) (*gateway.Reply, error) {
	said, _ := json.Marshal(map[string]string{"player": req.PlayerID, "text": string(req.Body)})
	if _, err := g.api.Broadcast(ctx, PushSaid, said); err != nil {
		return nil, fmt.Errorf("broadcasting: %w", err) // the client sees BACKEND_ERROR
	}
	return nil, nil
}

func (g *Game) echo(_ context.Context, req *gateway.Request) (*gateway.Reply, error) {
	return &gateway.Reply{Body: req.Body}, nil
}

func (g *Game) whisper(ctx context.Context, req *gateway.Request) (*gateway.Reply, error) {
	var in struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil || in.To == "" {
		return nil, gateway.Reject(400, `body must be {"to":"<player>","text":"…"}`)
	}
	if _, err := g.api.Player(ctx, in.To); errors.Is(err, gateway.ErrNotFound) {
		return &gateway.Reply{Status: StatusNoSuchPlayer, Body: []byte("no player " + in.To)}, nil
	} else if err != nil {
		return nil, err
	}
	msg, _ := json.Marshal(map[string]string{"from": req.PlayerID, "text": in.Text})
	res, err := g.api.Push(ctx, []string{in.To}, PushWhispered, msg)
	if err != nil {
		return nil, err
	}
	// "delivered" now, or "cached" until the player logs in again.
	body, _ := json.Marshal(map[string]string{"to": in.To, "result": res.Results[in.To]})
	return &gateway.Reply{Body: body}, nil
}

func (g *Game) quit(context.Context, *gateway.Request) (*gateway.Reply, error) {
	return &gateway.Reply{Body: []byte("bye"), Close: "quit"}, nil
}

// event keeps the map in step with who is online. The gateway sends one
// player's events in order, each after the previous one was answered.
func (g *Game) event(ctx context.Context, req *gateway.Request) {
	log.Printf("event %s %s", req.Event, req.PlayerID)
	if req.Event != gateway.EventOffline {
		return
	}
	g.mu.Lock()
	delete(g.positions, req.PlayerID)
	g.mu.Unlock()
	left, _ := json.Marshal(map[string]string{"player": req.PlayerID})
	if _, err := g.api.PushGroup(ctx, world, PushLeft, left); err != nil {
		log.Printf("offline %s: pushing to %s: %v", req.PlayerID, world, err)
	}
}

// players lists who is on the map, for the tests.
func (g *Game) players() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.positions))
	for n := range g.positions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
