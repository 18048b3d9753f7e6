package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxAnswerBytes bounds what is read of one etcd answer; the calls made here get
// a header and a few fields back.
const maxAnswerBytes = 1 << 20

// etcdClient speaks the few calls of etcd's v3 JSON gateway (grpc-gateway) the
// registration needs. Keys and values travel base64-encoded and 64-bit ids as
// decimal strings, as the gateway's JSON mapping has them.
type etcdClient struct {
	endpoints []string
	http      *http.Client
	// own is the transport of the package's own client (Config.HTTPClient nil),
	// whose idle connections closeIdle closes; nil with the caller's client,
	// whose connections are the caller's to manage.
	own            *http.Transport
	user, password string       // etcd authentication, when user is not ""
	next           atomic.Int32 // the endpoint that answered last

	mu sync.Mutex
	// tokens holds an auth token per endpoint: etcd's default (simple) tokens are
	// known only to the member that issued them.
	tokens map[int32]string
}

// newEtcdClient checks cfg's endpoints and builds the client for them.
func newEtcdClient(cfg Config) (*etcdClient, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("registry: Config.Endpoints is empty")
	}
	endpoints := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("registry: Config.Endpoints[%d] %q is not an http(s) URL", i, e)
		}
		endpoints[i] = strings.TrimRight(e, "/")
	}
	c := &etcdClient{endpoints: endpoints, http: cfg.HTTPClient, user: cfg.Username, password: cfg.Password}
	if c.http == nil {
		// A transport of its own rather than http.DefaultTransport: the
		// keep-alive connections to etcd then belong to this client, and
		// closeIdle can close them without touching anyone else's.
		c.own = http.DefaultTransport.(*http.Transport).Clone()
		c.http = &http.Client{Transport: c.own}
	}
	return c, nil
}

// closeIdle closes the idle keep-alive connections of the package's own
// transport (and the goroutines serving them). A connection still in use is
// closed by the transport when its call ends. Nothing is done with the caller's
// Config.HTTPClient.
func (c *etcdClient) closeIdle() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// etcdError is an answer of etcd other than 200: {"error", "message", "code"},
// code being a gRPC status code.
type etcdError struct {
	HTTPStatus int
	Code       int    `json:"code"`
	Message    string `json:"message"`
}

func (e *etcdError) Error() string {
	return fmt.Sprintf("etcd: HTTP %d (grpc code %d): %s", e.HTTPStatus, e.Code, e.Message)
}

// gRPC status codes etcd answers with.
const (
	grpcNotFound        = 5  // "requested lease not found"
	grpcUnauthenticated = 16 // "invalid auth token": it expired (--auth-token-ttl) or the member restarted
)

// call POSTs in to path and decodes the answer into out. Every call made here
// may be repeated harmlessly (a second grant only makes a lease that expires),
// so any failure to get an answer moves on to the next endpoint.
func (c *etcdClient) call(ctx context.Context, path string, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return err
	}
	n := int32(len(c.endpoints))
	first := c.next.Load()
	for i := int32(0); i < n; i++ {
		at := (first + i) % n
		var answered bool
		answered, err = c.callEndpoint(ctx, at, path, payload, out)
		if answered {
			c.next.Store(at)
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("etcd %s: %w", path, err)
}

// callEndpoint makes the call on one endpoint, authenticating first when a user
// is configured, and once more when etcd no longer accepts the token.
func (c *etcdClient) callEndpoint(ctx context.Context, at int32, path string, payload []byte, out any) (answered bool, err error) {
	token, answered, err := c.token(ctx, at, false)
	if err != nil {
		return answered, err
	}
	answered, err = c.attempt(ctx, c.endpoints[at]+path, token, payload, out)
	var e *etcdError
	if c.user != "" && errors.As(err, &e) && e.Code == grpcUnauthenticated {
		if token, answered, err = c.token(ctx, at, true); err != nil {
			return answered, err
		}
		answered, err = c.attempt(ctx, c.endpoints[at]+path, token, payload, out)
	}
	return answered, err
}

// token returns the endpoint's auth token ("" without a user), asking etcd for a
// new one when there is none yet or renew is set.
func (c *etcdClient) token(ctx context.Context, at int32, renew bool) (token string, answered bool, err error) {
	if c.user == "" {
		return "", false, nil
	}
	c.mu.Lock()
	token = c.tokens[at]
	c.mu.Unlock()
	if token != "" && !renew {
		return token, false, nil
	}
	payload, err := json.Marshal(map[string]string{"name": c.user, "password": c.password})
	if err != nil {
		return "", false, err
	}
	var out struct {
		Token string `json:"token"`
	}
	answered, err = c.attempt(ctx, c.endpoints[at]+"/v3/auth/authenticate", "", payload, &out)
	if err != nil {
		return "", answered, fmt.Errorf("authenticating as %s: %w", c.user, err)
	}
	if out.Token == "" {
		return "", true, fmt.Errorf("authenticating as %s: etcd answered no token (is auth enabled?)", c.user)
	}
	c.mu.Lock()
	if c.tokens == nil {
		c.tokens = make(map[int32]string)
	}
	c.tokens[at] = out.Token
	c.mu.Unlock()
	return out.Token, true, nil
}

func (c *etcdClient) attempt(ctx context.Context, url, token string, payload []byte, out any) (answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token) // etcd takes the bare token, no scheme
	}
	res, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes+1))
	if err != nil {
		return false, err
	}
	if len(data) > maxAnswerBytes {
		return true, fmt.Errorf("etcd: answer over %d bytes", maxAnswerBytes)
	}
	if res.StatusCode != http.StatusOK {
		e := &etcdError{HTTPStatus: res.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return true, e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return true, fmt.Errorf("etcd: decoding the answer: %w", err)
	}
	return true, nil
}

// grant creates a lease of ttlSeconds and returns its id.
func (c *etcdClient) grant(ctx context.Context, ttlSeconds int64) (int64, error) {
	var out struct {
		ID string `json:"ID"`
	}
	if err := c.call(ctx, "/v3/lease/grant", map[string]string{"TTL": strconv.FormatInt(ttlSeconds, 10)}, &out); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(out.ID, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("etcd: lease grant answered no lease id (%q)", out.ID)
	}
	return id, nil
}

// put writes key = value attached to lease.
func (c *etcdClient) put(ctx context.Context, key, value string, lease int64) error {
	in := map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString([]byte(value)),
		"lease": strconv.FormatInt(lease, 10),
	}
	var out json.RawMessage
	return c.call(ctx, "/v3/kv/put", in, &out)
}

// keepAlive renews lease once and returns its TTL in seconds; 0 means etcd does
// not know the lease (it expired, or etcd lost its data).
func (c *etcdClient) keepAlive(ctx context.Context, lease int64) (int64, error) {
	// The route is a stream; one request in gives one result out, then the
	// stream ends with the request body.
	var out struct {
		Result struct {
			TTL string `json:"TTL"`
		} `json:"result"`
		// A stream reports a failure inside a 200 answer.
		Error *struct {
			GRPCCode int    `json:"grpc_code"`
			HTTPCode int    `json:"http_code"`
			Message  string `json:"message"`
		} `json:"error"`
	}
	if err := c.call(ctx, "/v3/lease/keepalive", map[string]string{"ID": strconv.FormatInt(lease, 10)}, &out); err != nil {
		return 0, err
	}
	if e := out.Error; e != nil {
		return 0, &etcdError{HTTPStatus: e.HTTPCode, Code: e.GRPCCode, Message: e.Message}
	}
	if out.Result.TTL == "" {
		return 0, nil // proto3 JSON leaves out a TTL of 0
	}
	return strconv.ParseInt(out.Result.TTL, 10, 64)
}

// revoke ends lease and deletes its keys. A lease etcd does not know is gone
// already, which is what revoking wants.
func (c *etcdClient) revoke(ctx context.Context, lease int64) error {
	var out json.RawMessage
	err := c.call(ctx, "/v3/lease/revoke", map[string]string{"ID": strconv.FormatInt(lease, 10)}, &out)
	var e *etcdError
	if errors.As(err, &e) && e.Code == grpcNotFound {
		return nil
	}
	return err
}

// keyValue is one key of a range, decoded.
type keyValue struct{ key, value string }

// rangePrefix reads every key starting with prefix, in key order.
func (c *etcdClient) rangePrefix(ctx context.Context, prefix string) ([]keyValue, error) {
	end := []byte(prefix)
	end[len(end)-1]++ // the first key after every key with the prefix; the prefix ends in "/"
	var out struct {
		Kvs []struct {
			Key   []byte `json:"key"` // encoding/json decodes base64 into []byte
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	in := map[string][]byte{"key": []byte(prefix), "range_end": end}
	if err := c.call(ctx, "/v3/kv/range", in, &out); err != nil {
		return nil, err
	}
	kvs := make([]keyValue, len(out.Kvs))
	for i, kv := range out.Kvs {
		kvs[i] = keyValue{string(kv.Key), string(kv.Value)}
	}
	return kvs, nil
}
