package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PlayerInfo is what the gateway knows of one player (GET /v1/players/{id}).
type PlayerInfo struct {
	PlayerID      string    `json:"playerId"`
	Online        bool      `json:"online"`
	Node          string    `json:"node"`      // "" while offline
	SessionID     string    `json:"sessionId"` // "" while offline
	LastActiveAt  time.Time `json:"lastActiveAt"`
	OfflineQueued int       `json:"offlineQueued"` // pushes waiting for its next login
	PushSeq       uint32    `json:"pushSeq"`       // the last push seq given out
}

// Player looks a player up. It returns ErrNotFound when the gateway does not
// know the player. A 404 for a route the gateway does not have (a wrong base
// path in Addrs: "no route …") stays an *APIError, so a misconfigured client
// does not read as "no such player".
func (c *Client) Player(ctx context.Context, id string) (*PlayerInfo, error) {
	var info PlayerInfo
	err := c.call(ctx, http.MethodGet, "/v1/players/"+url.PathEscape(id), nil, &info)
	if isUnknownPlayer(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// isUnknownPlayer tells the gateway's 404 for an unknown player ({"error":
// "not_found", "message": "player <id> is not known to this gateway"}) from its
// 404 for an unknown route ({"error": "not_found", "message": "no route
// <path>"}) and from a 404 that is not the API's JSON (Code "", e.g. a proxy).
// Both of the gateway's carry the same code, so the route's message prefix is
// what tells them apart.
func isUnknownPlayer(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound &&
		apiErr.Code == "not_found" && !strings.HasPrefix(apiErr.Message, noRoutePrefix)
}

// noRoutePrefix starts the message of the gateway's 404 for a path no route
// matches (src/api/api-server.ts).
const noRoutePrefix = "no route "

// Stats is the gateway node's summary (GET /v1/stats): this node only; in
// cluster mode, ask each node.
type Stats struct {
	Node     string `json:"node"`
	Sessions struct {
		Connected int `json:"connected"` // not bound to a player
		Authed    int `json:"authed"`
	} `json:"sessions"`
	Players struct {
		Online  int `json:"online"`
		Offline int `json:"offline"`
	} `json:"players"`
	OfflineMessages  int `json:"offlineMessages"`
	RequestsInFlight int `json:"requestsInFlight"`
	// Requests counts client requests since start by result, as the gateway's
	// gateway_requests_total{result} does.
	Requests struct {
		Success int64 `json:"success"`
		Error   int64 `json:"error"`
		Drop    int64 `json:"drop"` // never forwarded: no route, not logged in, rate limited
	} `json:"requests"`
	// Errors counts the gateway's errors since start by type, as its
	// gateway_errors_total{type} does ("backend_timeout", "route_not_found",
	// "send_failed", …; docs/errors.md). A type never counted is absent.
	Errors map[string]int64 `json:"errors"`
	// Targets holds each target the gateway discovers in the service registry,
	// by target name; nil when the gateway runs without registry.etcd.
	Targets map[string]DiscoveredTarget `json:"targets"`
	Ready   bool                        `json:"ready"`
}

// DiscoveredTarget is one target found through the service registry, as
// GET /v1/stats lists it.
type DiscoveredTarget struct {
	Service   string               `json:"service"`   // the service name it discovers (targets.<name>.discover)
	Read      bool                 `json:"read"`      // the registry was read once: Instances is what etcd holds
	Instances []DiscoveredInstance `json:"instances"` // the instances requests go to now
}

// DiscoveredInstance is one registered instance of a DiscoveredTarget.
type DiscoveredInstance struct {
	ID      string `json:"id"`      // the record key's last segment
	BaseURL string `json:"baseUrl"` // its http(s):// address, which the target's path is appended to
}

// Stats returns the summary of the node that answered.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var s Stats
	if err := c.call(ctx, http.MethodGet, "/v1/stats", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Ready returns nil when the node that answered is ready (GET /readyz 200), and
// an *APIError with StatusCode 503 while it is starting or draining.
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/readyz", nil, nil)
}

// Health returns nil while the node that answered runs (GET /healthz 200). Unlike
// Ready, it stays nil while the node drains.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil)
}
