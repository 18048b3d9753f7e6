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
	"strconv"
	"strings"
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
	next      atomic.Int32 // the endpoint that answered last
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

// grpcNotFound is the gRPC status etcd gives for "requested lease not found".
const grpcNotFound = 5

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
		answered, err = c.attempt(ctx, c.endpoints[at]+path, payload, out)
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

func (c *etcdClient) attempt(ctx context.Context, url string, payload []byte, out any) (answered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
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
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := c.call(ctx, "/v3/lease/keepalive", map[string]string{"ID": strconv.FormatInt(lease, 10)}, &out); err != nil {
		return 0, err
	}
	if out.Error != nil {
		return 0, fmt.Errorf("etcd: lease keepalive: %s", out.Error.Message)
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
