package gateway

import (
	"context"
	"net/http"
	"net/url"
)

// PushOption changes how Push treats players who are not online.
type PushOption func(*pushBody)

// NoOffline drops the message for players who are known but offline instead of
// caching it for their next login ("offline": false).
func NoOffline() PushOption {
	return func(b *pushBody) {
		off := false
		b.Offline = &off
	}
}

// PushResult is the outcome of one Push. Results maps each player to
// "delivered", "cached" or "dropped"; the gateway fills it only when the push
// names at most 100 players (nil above that: use the counts).
type PushResult struct {
	Delivered, Cached, Dropped int
	Results                    map[string]string
}

type pushBody struct {
	Players []string `json:"players"`
	Cmd     uint32   `json:"cmd"`
	Data    []byte   `json:"data"` // encoding/json writes []byte as base64, as the API wants
	Offline *bool    `json:"offline,omitempty"`
}

type messageBody struct {
	Cmd  uint32 `json:"cmd"`
	Data []byte `json:"data"`
}

// Push sends one PUSH (cmd, data) to each player: written now to players online
// on any gateway node (Delivered), queued for known offline players unless
// NoOffline (Cached), dropped for unknown ones (Dropped).
func (c *Client) Push(ctx context.Context, players []string, cmd uint32, data []byte, opts ...PushOption) (*PushResult, error) {
	body := pushBody{Players: players, Cmd: cmd, Data: nonNil(data)}
	for _, o := range opts {
		o(&body)
	}
	var out struct {
		Delivered int               `json:"delivered"`
		Cached    int               `json:"cached"`
		Dropped   int               `json:"dropped"`
		Results   map[string]string `json:"results"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/push", body, &out); err != nil {
		return nil, err
	}
	return &PushResult{Delivered: out.Delivered, Cached: out.Cached, Dropped: out.Dropped, Results: out.Results}, nil
}

// Broadcast pushes to every bound session on every node (never cached) and
// returns how many got it.
func (c *Client) Broadcast(ctx context.Context, cmd uint32, data []byte) (int, error) {
	return c.count(ctx, http.MethodPost, "/v1/broadcast", messageBody{cmd, nonNil(data)}, "delivered")
}

// PushGroup pushes to the group's members who are online (never cached) and
// returns how many got it. A group nobody joined gives 0.
func (c *Client) PushGroup(ctx context.Context, group string, cmd uint32, data []byte) (int, error) {
	return c.count(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/push", messageBody{cmd, nonNil(data)}, "delivered")
}

// JoinGroup adds players to group and returns its member count after. Only
// players the gateway knows can join; others are skipped. To put a player in a
// group at login, use Reply.Join on the login's answer instead: the player is
// not known to the gateway until that answer has been applied.
func (c *Client) JoinGroup(ctx context.Context, group string, players ...string) (int, error) {
	return c.members(ctx, http.MethodPut, group, players)
}

// LeaveGroup removes players from group and returns its member count after.
func (c *Client) LeaveGroup(ctx context.Context, group string, players ...string) (int, error) {
	return c.members(ctx, http.MethodDelete, group, players)
}

// Members lists the group's members (GET /v1/groups/{group}/members): the
// players the gateway knows, online or offline, in no particular order. A group
// nobody joined (or whose members all left or were forgotten) gives an empty
// list, not an error; a 404 is an *APIError for a route the gateway does not
// have (a base path in Addrs it does not serve, or a gateway older than the
// route).
func (c *Client) Members(ctx context.Context, group string) ([]string, error) {
	var out struct {
		Members []string `json:"members"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(group)+"/members", nil, &out); err != nil {
		return nil, err
	}
	if out.Members == nil {
		out.Members = []string{}
	}
	return out.Members, nil
}

func (c *Client) members(ctx context.Context, method, group string, players []string) (int, error) {
	body := struct {
		Players []string `json:"players"`
	}{players}
	return c.count(ctx, method, "/v1/groups/"+url.PathEscape(group)+"/members", body, "members")
}

// Kick sends KICK KICKED with reason to each player's session and closes it;
// it returns how many were online. An empty reason is the gateway's default.
func (c *Client) Kick(ctx context.Context, players []string, reason string) (int, error) {
	body := struct {
		Players []string `json:"players"`
		Reason  string   `json:"reason,omitempty"`
	}{players, reason}
	return c.count(ctx, http.MethodPost, "/v1/kick", body, "kicked")
}

// count makes a call whose answer is one number under field.
func (c *Client) count(ctx context.Context, method, path string, in any, field string) (int, error) {
	var out map[string]int
	if err := c.call(ctx, method, path, in, &out); err != nil {
		return 0, err
	}
	return out[field], nil
}

// nonNil makes an empty message encode as "" rather than null, which the API
// refuses as not base64.
func nonNil(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}
