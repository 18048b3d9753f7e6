package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	gateway "game-gateway/sdk/go"
)

// TestLiveGateway runs the Client against a real gateway: the project's
// integration test (test/integration/go-backend.test.ts) starts one in front of
// examples/go-backend and runs this test with GATEWAY_LIVE_API (the push API's
// base URL) and GATEWAY_LIVE_TCP (the client listener; LOGIN is cmd 1001).
func TestLiveGateway(t *testing.T) {
	apiURL, tcpAddr := os.Getenv("GATEWAY_LIVE_API"), os.Getenv("GATEWAY_LIVE_TCP")
	if apiURL == "" || tcpAddr == "" {
		t.Skip("GATEWAY_LIVE_API / GATEWAY_LIVE_TCP not set: run by test/integration/go-backend.test.ts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{deadAddr(t), apiURL}})
	if err != nil {
		t.Fatal(err)
	}
	a := dialLive(t, tcpAddr, "live-a")
	b := dialLive(t, tcpAddr, "live-b")
	// A player known to the gateway but offline: logged in, then gone.
	gone := dialLive(t, tcpAddr, "live-gone")
	gone.conn.Close()
	waitOffline(ctx, t, c, "live-gone")

	res, err := c.Push(ctx, []string{"live-a", "live-gone", "live-nobody"}, 42, []byte("gift"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 1 || res.Cached != 1 || res.Dropped != 1 ||
		res.Results["live-a"] != "delivered" || res.Results["live-gone"] != "cached" || res.Results["live-nobody"] != "dropped" {
		t.Fatalf("push %+v", res)
	}
	if f := a.push(t); f.cmd != 42 || string(f.body) != "gift" {
		t.Fatalf("a got %+v", f)
	}
	if res, err := c.Push(ctx, []string{"live-gone"}, 43, nil, gateway.NoOffline()); err != nil || res.Dropped != 1 {
		t.Fatalf("NoOffline: %+v, %v", res, err)
	}
	if p, err := c.Player(ctx, "live-gone"); err != nil || p.Online || p.OfflineQueued != 1 || p.PushSeq < 1 {
		t.Fatalf("player live-gone: %+v, %v", p, err)
	}
	if p, err := c.Player(ctx, "live-a"); err != nil || !p.Online || p.SessionID == "" || p.Node == "" || p.LastActiveAt.IsZero() {
		t.Fatalf("player live-a: %+v, %v", p, err)
	}
	if _, err := c.Player(ctx, "live-nobody"); err != gateway.ErrNotFound {
		t.Fatalf("unknown player: %v", err)
	}
	// A base path the gateway does not serve: its "no route" 404, not ErrNotFound.
	wrongPath, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{apiURL + "/api"}})
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *gateway.APIError
	if _, err := wrongPath.Player(ctx, "live-a"); errors.Is(err, gateway.ErrNotFound) || !errors.As(err, &apiErr) ||
		apiErr.StatusCode != 404 || apiErr.Code != "not_found" {
		t.Fatalf("wrong base path: %v", err)
	}
	wrongPath.CloseIdleConnections()

	if n, err := c.JoinGroup(ctx, "live-room", "live-a", "live-b", "live-nobody"); err != nil || n != 2 {
		t.Fatalf("join: %d, %v", n, err)
	}
	if n, err := c.PushGroup(ctx, "live-room", 44, []byte("room")); err != nil || n != 2 {
		t.Fatalf("group push: %d, %v", n, err)
	}
	for _, s := range []*liveSession{a, b} {
		if f := s.push(t); f.cmd != 44 || string(f.body) != "room" {
			t.Fatalf("%s got %+v", s.name, f)
		}
	}
	if m, err := c.Members(ctx, "live-room"); err != nil || !sameSet(m, "live-a", "live-b") {
		t.Fatalf("members: %v, %v", m, err)
	}
	if n, err := c.LeaveGroup(ctx, "live-room", "live-b"); err != nil || n != 1 {
		t.Fatalf("leave: %d, %v", n, err)
	}
	if m, err := c.Members(ctx, "live-room"); err != nil || !sameSet(m, "live-a") {
		t.Fatalf("members after leave: %v, %v", m, err)
	}
	if m, err := c.Members(ctx, "live-nobody-joined"); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("members of an unknown group: %#v, %v", m, err)
	}
	if n, err := c.Broadcast(ctx, 45, []byte("all")); err != nil || n < 2 {
		t.Fatalf("broadcast: %d, %v", n, err)
	}
	for _, s := range []*liveSession{a, b} {
		if f := s.push(t); f.cmd != 45 {
			t.Fatalf("%s got %+v", s.name, f)
		}
	}

	if _, err := c.Push(ctx, nil, 1, nil); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "invalid_request" {
		t.Fatalf("empty players: %v", err)
	}
	// A cmd no route covers (the gateway routes 1000–2999): ROUTE_NOT_FOUND, counted
	// in gateway_errors_total{type="route_not_found"}, which Stats.Errors reports.
	if r := a.request(t, 9999, ""); r.status != 120 {
		t.Fatalf("unrouted cmd: status %d", r.status)
	}
	if s, err := c.Stats(ctx); err != nil || s.Node == "" || s.Sessions.Authed < 2 || !s.Ready ||
		s.Errors["route_not_found"] < 1 || s.Targets != nil {
		t.Fatalf("stats %+v, %v", s, err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}

	if n, err := c.Kick(ctx, []string{"live-b", "live-nobody"}, "live test"); err != nil || n != 1 {
		t.Fatalf("kick: %d, %v", n, err)
	}
	if f := b.kick(t); f.status != 302 {
		t.Fatalf("kick frame %+v", f)
	}
	c.CloseIdleConnections()
}

// sameSet reports whether got holds exactly want, in any order (the gateway
// lists members in no particular order).
func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	left := make(map[string]int, len(want))
	for _, w := range want {
		left[w]++
	}
	for _, g := range got {
		if left[g] == 0 {
			return false
		}
		left[g]--
	}
	return true
}

// liveSession is a bare TCP client of the gateway, logged in as name.
type liveSession struct {
	name   string
	conn   net.Conn
	seq    uint32
	frames chan liveFrame
	done   chan struct{} // closed at cleanup, so the reader never blocks on frames
}

type liveFrame struct {
	typ    byte
	status uint16
	cmd    uint32
	seq    uint32
	body   []byte
}

const (
	frameRequest  = 2
	frameResponse = 3
	framePush     = 5
	frameKick     = 8
)

func dialLive(t *testing.T, addr, name string) *liveSession {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &liveSession{name: name, conn: conn, frames: make(chan liveFrame, 64), done: make(chan struct{})}
	t.Cleanup(func() {
		close(s.done)
		conn.Close()
	})
	go s.read()
	if f := s.next(t); f.typ != 1 {
		t.Fatalf("expected HELLO, got %+v", f)
	}
	if r := s.request(t, 1001, name); r.status != 0 {
		t.Fatalf("login %s: status %d %s", name, r.status, r.body)
	}
	return s
}

// read decodes frames until the connection closes; the reader goroutine ends
// with it (t.Cleanup closes every connection).
func (s *liveSession) read() {
	defer close(s.frames)
	r := bufio.NewReader(s.conn)
	head := make([]byte, 16)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head)-12)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		f := liveFrame{head[4], binary.BigEndian.Uint16(head[6:]), binary.BigEndian.Uint32(head[8:]), binary.BigEndian.Uint32(head[12:]), body}
		select {
		case s.frames <- f:
		case <-s.done:
			return
		}
	}
}

func (s *liveSession) next(t *testing.T) liveFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatalf("%s: connection closed", s.name)
		}
		return f
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("%s: no frame", s.name)
	}
	return liveFrame{}
}

// nextOf skips frames of other types (e.g. lifecycle pushes of the example backend).
func (s *liveSession) nextOf(t *testing.T, typ byte, cmds ...uint32) liveFrame {
	t.Helper()
	for {
		f := s.next(t)
		if f.typ != typ {
			continue
		}
		if len(cmds) == 0 {
			return f
		}
		for _, c := range cmds {
			if f.cmd == c {
				return f
			}
		}
	}
}

func (s *liveSession) request(t *testing.T, cmd uint32, body string) liveFrame {
	t.Helper()
	s.seq++
	head := make([]byte, 16)
	binary.BigEndian.PutUint32(head, uint32(12+len(body)))
	head[4] = frameRequest
	binary.BigEndian.PutUint32(head[8:], cmd)
	binary.BigEndian.PutUint32(head[12:], s.seq)
	if _, err := s.conn.Write(append(head, body...)); err != nil {
		t.Fatal(err)
	}
	for {
		f := s.nextOf(t, frameResponse)
		if f.seq == s.seq {
			return f
		}
	}
}

// push returns the next PUSH with a cmd of this test (42–45), skipping the
// example backend's own pushes (5001–5004) to the world group.
func (s *liveSession) push(t *testing.T) liveFrame {
	t.Helper()
	return s.nextOf(t, framePush, 42, 43, 44, 45)
}

func (s *liveSession) kick(t *testing.T) liveFrame {
	t.Helper()
	return s.nextOf(t, frameKick)
}

// waitOffline polls the API until the gateway has handled the player's disconnect.
func waitOffline(ctx context.Context, t *testing.T, c *gateway.Client, player string) {
	t.Helper()

	for {
		p, err := c.Player(ctx, player)
		if err == nil && !p.Online {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s still online: %+v, %v", player, p, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
