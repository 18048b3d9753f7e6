package gatewaytest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Push is one push the fake API accepted.
type Push struct {
	Kind    string   // "players" (POST /v1/push), "broadcast" or "group"
	Players []string // for Kind "players"
	Group   string   // for Kind "group"
	Cmd     uint32
	Data    []byte
	Offline bool // for Kind "players": cache for offline players (the default)
}

// Kick is one POST /v1/kick the fake API accepted.
type Kick struct {
	Players []string
	Reason  string
}

// API is a fake of the gateway's push and admin API on an httptest.Server. It
// keeps players (online, or known and offline), groups, each offline player's
// count of cached pushes, and a record of every push and kick, and answers like
// the gateway: a push is delivered to online players, cached for known offline
// ones, dropped for the rest. It serves every route the gateway.Client calls:
// the pushes, group members (PUT, DELETE, GET), kicks, players, /v1/stats,
// /healthz and /readyz (those two without the token, as the gateway does).
type API struct {
	*httptest.Server
	// Token, when set, is required as "authorization: Bearer <Token>".
	Token string

	mu      sync.Mutex
	online  map[string]bool // known players; true while online
	queued  map[string]int  // pushes cached for an offline player, until it is Online again
	groups  map[string]map[string]bool
	pushes  []Push
	kicks   []Kick
	fail    *failure
	changed chan struct{} // closed and replaced on every recorded push
}

type failure struct {
	status        int
	code, message string
}

// NewAPI starts a fake API; Close it at the end of the test.
func NewAPI() *API {
	a := &API{
		online:  make(map[string]bool),
		queued:  make(map[string]int),
		groups:  make(map[string]map[string]bool),
		changed: make(chan struct{}),
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	return a
}

// Online makes players known and online; pushes cached for them are taken as
// delivered at this login (their offlineQueued is 0 again).
func (a *API) Online(players ...string) { a.set(players, true) }

// Offline makes players known and offline (pushes to them are cached).
func (a *API) Offline(players ...string) { a.set(players, false) }

func (a *API) set(players []string, online bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range players {
		a.online[p] = online
		if online {
			delete(a.queued, p)
		}
	}
}

// FailNext makes the next API call answer status with the API's error JSON.
func (a *API) FailNext(status int, code, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = &failure{status, code, message}
}

// Pushes returns every push so far, in the order they were accepted.
func (a *API) Pushes() []Push {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Push(nil), a.pushes...)
}

// WaitPushes waits until at least n pushes were accepted (for a backend that
// pushes from a goroutine) and returns them all; it fails when ctx ends first.
func (a *API) WaitPushes(ctx context.Context, n int) ([]Push, error) {
	for {
		a.mu.Lock()
		got, changed := len(a.pushes), a.changed
		a.mu.Unlock()
		if got >= n {
			return a.Pushes(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return a.Pushes(), ctx.Err()
		}
	}
}

// Kicks returns every kick so far.
func (a *API) Kicks() []Kick {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Kick(nil), a.kicks...)
}

// Members returns a group's members, sorted.
func (a *API) Members(group string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.groups[group]))
	for p := range a.groups[group] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	path := r.URL.EscapedPath()
	open := path == "/healthz" || path == "/readyz" // no token needed, as with the gateway
	if a.Token != "" && !open && r.Header.Get("Authorization") != "Bearer "+a.Token {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
		return
	}
	if f := a.fail; f != nil {
		a.fail = nil
		writeError(w, f.status, f.code, f.message)
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/readyz":
		writeJSON(w, map[string]string{"status": "ready"})
	case r.Method == http.MethodGet && path == "/healthz":
		writeJSON(w, map[string]string{"status": "ok"})
	case r.Method == http.MethodGet && path == "/v1/stats":
		a.stats(w)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/groups/") && strings.HasSuffix(path, "/members"):
		a.listMembers(w, unescape(strings.TrimSuffix(strings.TrimPrefix(path, "/v1/groups/"), "/members")))
	case r.Method == http.MethodPost && path == "/v1/push":
		a.push(w, r)
	case r.Method == http.MethodPost && path == "/v1/broadcast":
		a.message(w, r, "broadcast", "")
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v1/groups/") && strings.HasSuffix(path, "/push"):
		a.message(w, r, "group", unescape(strings.TrimSuffix(strings.TrimPrefix(path, "/v1/groups/"), "/push")))
	case (r.Method == http.MethodPut || r.Method == http.MethodDelete) && strings.HasPrefix(path, "/v1/groups/") && strings.HasSuffix(path, "/members"):
		a.members(w, r, unescape(strings.TrimSuffix(strings.TrimPrefix(path, "/v1/groups/"), "/members")))
	case r.Method == http.MethodPost && path == "/v1/kick":
		a.kick(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/players/"):
		a.player(w, unescape(strings.TrimPrefix(path, "/v1/players/")))
	default:
		writeError(w, http.StatusNotFound, "not_found", "no route "+path) // the gateway's words
	}
}

func (a *API) record(p Push) {
	a.pushes = append(a.pushes, p)
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *API) push(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Players []string `json:"players"`
		Cmd     uint32   `json:"cmd"`
		Data    []byte   `json:"data"`
		Offline *bool    `json:"offline"`
	}
	if !decode(w, r, &in) {
		return
	}
	if len(in.Players) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "players: players must name at least one player")
		return
	}
	offline := in.Offline == nil || *in.Offline
	a.record(Push{Kind: "players", Players: in.Players, Cmd: in.Cmd, Data: in.Data, Offline: offline})
	counts := map[string]int{"delivered": 0, "cached": 0, "dropped": 0}
	results := make(map[string]string, len(in.Players))
	for _, p := range in.Players {
		online, known := a.online[p]
		result := "dropped"
		if online {
			result = "delivered"
		} else if known && offline {
			result = "cached"
			a.queued[p]++
		}
		counts[result]++
		results[p] = result
	}
	writeJSON(w, map[string]any{
		"delivered": counts["delivered"], "cached": counts["cached"], "dropped": counts["dropped"], "results": results,
	})
}

func (a *API) message(w http.ResponseWriter, r *http.Request, kind, group string) {
	var in struct {
		Cmd  uint32 `json:"cmd"`
		Data []byte `json:"data"`
	}
	if !decode(w, r, &in) {
		return
	}
	a.record(Push{Kind: kind, Group: group, Cmd: in.Cmd, Data: in.Data})
	delivered := 0
	for p, online := range a.online {
		if online && (kind == "broadcast" || a.groups[group][p]) {
			delivered++
		}
	}
	writeJSON(w, map[string]int{"delivered": delivered})
}

func (a *API) members(w http.ResponseWriter, r *http.Request, group string) {
	var in struct {
		Players []string `json:"players"`
	}
	if !decode(w, r, &in) {
		return
	}
	g := a.groups[group]
	if g == nil {
		g = make(map[string]bool)
		a.groups[group] = g
	}
	for _, p := range in.Players {
		if r.Method == http.MethodDelete {
			delete(g, p)
		} else if _, known := a.online[p]; known {
			g[p] = true // like the gateway, only known players can join
		}
	}
	writeJSON(w, map[string]int{"members": len(g)})
}

func (a *API) kick(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Players []string `json:"players"`
		Reason  string   `json:"reason"`
	}
	if !decode(w, r, &in) {
		return
	}
	a.kicks = append(a.kicks, Kick{in.Players, in.Reason})
	kicked := 0
	for _, p := range in.Players {
		if a.online[p] {
			a.online[p] = false
			kicked++
		}
	}
	writeJSON(w, map[string]int{"kicked": kicked})
}

func (a *API) player(w http.ResponseWriter, id string) {
	online, known := a.online[id]
	if !known {
		writeError(w, http.StatusNotFound, "not_found", "player "+id+" is not known to this gateway")
		return
	}
	info := map[string]any{"playerId": id, "online": online, "node": nil, "sessionId": nil, "offlineQueued": a.queued[id], "pushSeq": 0}
	if online {
		info["node"], info["sessionId"] = Node, SessionID
	}
	writeJSON(w, info)
}

// listMembers answers GET /v1/groups/{group}/members: an unknown group is an
// empty list, as with the gateway.
func (a *API) listMembers(w http.ResponseWriter, group string) {
	members := make([]string, 0, len(a.groups[group]))
	for p := range a.groups[group] {
		members = append(members, p)
	}
	sort.Strings(members)
	writeJSON(w, map[string]any{"group": group, "count": len(members), "members": members})
}

// stats answers GET /v1/stats from the fake's players: every online player is
// one authed session on Node; nothing is in flight and nothing was counted (no
// client requests pass through a fake), and there are no discovered targets.
func (a *API) stats(w http.ResponseWriter) {
	online, offline, queued := 0, 0, 0
	for p, on := range a.online {
		if on {
			online++
		} else {
			offline++
		}
		queued += a.queued[p]
	}
	writeJSON(w, map[string]any{
		"node":             Node,
		"sessions":         map[string]int{"connected": 0, "authed": online},
		"players":          map[string]int{"online": online, "offline": offline},
		"offlineMessages":  queued,
		"requestsInFlight": 0,
		"requests":         map[string]int{"success": 0, "error": 0, "drop": 0},
		"errors":           map[string]int{},
		"ready":            true,
	})
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}
