package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of ClientConfig.
const (
	DefaultClientTimeout = 5 * time.Second
	// dialTimeout is short on purpose: the gateway's API is on the same network,
	// and an address that does not accept within it is treated as down, so the
	// call fails over to the next address while its Timeout still has room.
	dialTimeout = 2 * time.Second
	// maxAnswerBytes bounds an API answer read into memory. The largest the API
	// gives is a push's per-player results (at most 100 players), far below this.
	maxAnswerBytes = 1 << 20
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Addrs are gateway API base URLs ("http://10.0.0.5:7002"). A call goes to
	// the address that last answered; on a connection error (refused, no route,
	// DNS, dial timeout: nothing was sent) it tries the next one. Any HTTP answer,
	// 4xx and 5xx included, is final: a push is never sent twice.
	Addrs []string
	// Token is sent as "authorization: Bearer <Token>" when not empty (api.token).
	Token string
	// HTTPClient, when nil, is a client of the SDK's own with pooled connections.
	HTTPClient *http.Client
	// Timeout bounds each call, failovers included (the ctx's deadline applies
	// too). 0 means DefaultClientTimeout; negative means none.
	Timeout time.Duration
}

// Client calls the gateway's push and admin API. It is safe for concurrent use
// and starts no goroutines of its own.
type Client struct {
	addrs   []string
	token   string
	http    *http.Client
	timeout time.Duration
	next    atomic.Int32 // index of the address that answered last
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("gateway: ClientConfig.Addrs is empty")
	}
	addrs := make([]string, len(cfg.Addrs))
	for i, a := range cfg.Addrs {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("gateway: ClientConfig.Addrs[%d] %q is not an http(s) base URL", i, a)
		}
		addrs[i] = strings.TrimRight(a, "/")
	}
	c := &Client{addrs: addrs, token: cfg.Token, http: cfg.HTTPClient, timeout: cfg.Timeout}
	if c.http == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		transport.MaxIdleConnsPerHost = 16
		c.http = &http.Client{Transport: transport}
	}
	if c.timeout == 0 {
		c.timeout = DefaultClientTimeout
	}
	return c, nil
}

// CloseIdleConnections closes the connections to the gateway that its HTTP
// client keeps open for reuse and that no call is using now (with the SDK's own
// client, those of its own transport; with ClientConfig.HTTPClient, that
// client's CloseIdleConnections). Call it when the Client is no longer needed,
// so no connection or goroutine of it is left; the Client stays usable, and the
// next call dials again.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
}

// call sends one API request and decodes a 2xx JSON answer into out (when not
// nil). A non-2xx answer is an *APIError.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("gateway: encoding the request: %w", err)
		}
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	n := int32(len(c.addrs))
	first := c.next.Load()
	var err error
	for i := int32(0); i < n; i++ {
		at := (first + i) % n
		var answered bool
		answered, err = c.attempt(ctx, c.addrs[at], method, path, payload, out)
		if answered {
			c.next.Store(at)
			return err
		}
		if !isConnectError(err) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("gateway: %s %s: %w", method, path, err)
}

// attempt makes the request to one address. answered is true when the address
// gave an HTTP answer, whatever its status.
func (c *Client) attempt(ctx context.Context, base, method, path string, payload []byte, out any) (answered bool, err error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return false, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes+1))
	if err != nil {
		return true, fmt.Errorf("gateway: reading the answer of %s %s: %w", method, path, err)
	}
	if len(data) > maxAnswerBytes {
		return true, fmt.Errorf("gateway: the answer of %s %s is over %d bytes", method, path, maxAnswerBytes)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return true, decodeAPIError(res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return true, fmt.Errorf("gateway: decoding the answer of %s %s: %w", method, path, err)
		}
	}
	return true, nil
}

// isConnectError is true when the request cannot have reached the gateway: the
// connection was never made. Anything later (a reset, a timeout while waiting
// for the answer) may have been applied, so it is not retried elsewhere.
func isConnectError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
