// Package registry registers a Go service in an etcd v3 service registry, in
// the record layouts kratos and go-zero use, so the gateway (and other
// services) discover it. It talks to etcd through etcd's v3 JSON gateway with
// the standard library's HTTP client: no etcd client library is needed.
//
// A Registration holds an etcd lease with the record attached and keeps it
// alive. When etcd no longer knows the lease (it expired during a partition,
// or etcd lost its data) the lease is granted again and the record put again,
// within TTL of etcd answering. Close revokes the lease, which deletes the
// record at once: call it first when shutting down, so no one picks the
// service while it drains.
package registry

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"
)

// DefaultTTL is the lease TTL when Config.TTL is 0.
const DefaultTTL = 10 * time.Second

// closeTimeout bounds the revoke in Close, so a shutdown never hangs on an
// etcd that is gone; the lease then expires by itself within the TTL.
const closeTimeout = 3 * time.Second

// Config says where and how to register.
type Config struct {
	// Endpoints are etcd client URLs ("http://127.0.0.1:2379"), tried in turn.
	Endpoints []string
	// Username and Password, when Username is set, authenticate to an etcd with
	// auth enabled; the token is renewed when etcd stops accepting it.
	Username, Password string
	// Layout is LayoutKratos (the default when "") or LayoutGoZero.
	Layout string
	// Prefix of the keys; "" means the layout's default ("/microservices" for
	// kratos, none for go-zero).
	Prefix string
	// TTL of the lease, in whole seconds (rounded up); 0 means DefaultTTL. The
	// record disappears at most this long after the process dies.
	TTL time.Duration
	// HTTPClient for etcd; nil means a client of the package's own, with a
	// transport of its own whose idle connections Close (and Lookup, when it
	// returns) closes. A client given here is left as it is: its connections
	// are the caller's to close.
	HTTPClient *http.Client
	// ErrorLog receives keep-alive failures and re-registrations; nil means the
	// log package's standard logger.
	ErrorLog *log.Logger
}

// Instance is the service instance to publish.
type Instance struct {
	ID       string // unique per instance (kratos: required; go-zero: the lease id when "")
	Name     string // the service name others discover it by
	Version  string
	Metadata map[string]string
	// Endpoints are the instance's addresses, e.g. "http://10.0.0.7:8081" (the
	// gateway sends to the first http:// or https:// one), "grpc://10.0.0.7:9000".
	Endpoints []string
}

// Registration is a registered instance; Close it when the service stops.
type Registration struct {
	etcd   *etcdClient
	record *record
	ttl    time.Duration
	log    *log.Logger

	mu    sync.Mutex
	lease int64
	key   string
	up    bool

	ctx       context.Context // ends when Close starts, cancelling calls in flight
	cancel    context.CancelFunc
	done      chan struct{} // closed when the keep-alive loop has returned
	closeOnce sync.Once
	closeErr  error
}

// Register grants a lease, puts the record and starts keeping the lease alive.
// It returns once the record is in etcd, or the error that kept it out (ctx
// bounds the attempt; the registration's life is not tied to ctx).
func Register(ctx context.Context, cfg Config, inst Instance) (*Registration, error) {
	etcd, err := newEtcdClient(cfg)
	if err != nil {
		return nil, err
	}
	rec, err := newRecord(cfg.Layout, cfg.Prefix, inst)
	if err != nil {
		return nil, err
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("registry: Config.TTL %v is under one second", ttl)
	}
	logger := cfg.ErrorLog
	if logger == nil {
		logger = log.Default()
	}
	r := &Registration{
		etcd:   etcd,
		record: rec,
		ttl:    ttl,
		log:    logger,
		done:   make(chan struct{}),
	}
	if err := r.register(ctx); err != nil {
		etcd.closeIdle()
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.keepAlive()
	return r, nil
}

// Key is the record's key in etcd now (with go-zero's lease-id keys it changes
// when the lease is granted again).
func (r *Registration) Key() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key
}

// Up reports whether etcd confirmed the record at the last keep-alive.
func (r *Registration) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// register grants a new lease and puts the record on it.
func (r *Registration) register(ctx context.Context) error {
	lease, err := r.etcd.grant(ctx, int64((r.ttl+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("registry: granting a lease: %w", err)
	}
	key := r.record.key(lease)
	if err := r.etcd.put(ctx, key, r.record.value, lease); err != nil {
		// The lease holds nothing and expires within the TTL: no need to revoke.
		return fmt.Errorf("registry: putting %s: %w", key, err)
	}
	r.mu.Lock()
	r.lease, r.key, r.up = lease, key, true
	r.mu.Unlock()
	return nil
}

// keepAlive renews the lease every third of the TTL, so two renewals in a row
// may fail before it expires. A lease etcd no longer knows is replaced.
func (r *Registration) keepAlive() {
	defer close(r.done)
	interval := r.ttl / 3
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failing := false // log an outage once, not on every tick
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-ticker.C:
		}
		err := r.renew(interval)
		if r.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			r.log.Printf("registry: %s: %v (retrying every %v)", r.Key(), err, interval)
			failing = true
		case err == nil && failing:
			r.log.Printf("registry: %s: etcd answers again", r.Key())
			failing = false
		}
	}
}

// renew makes one keep-alive, and registers anew when the lease is lost.
func (r *Registration) renew(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	r.mu.Lock()
	lease := r.lease
	r.mu.Unlock()
	ttl, err := r.etcd.keepAlive(ctx, lease)
	if err == nil && ttl > 0 {
		r.setUp(true)
		return nil
	}
	if err != nil {
		// Unknown whether the record is still there; it is gone for sure once
		// the TTL has passed without a renewal, which the next answer will tell.
		r.setUp(false)
		return fmt.Errorf("keep-alive: %w", err)
	}
	r.setUp(false)
	if err := r.register(ctx); err != nil {
		return fmt.Errorf("lease lost, registering again: %w", err)
	}
	r.log.Printf("registry: lease lost; registered again as %s", r.Key())
	return nil
}

func (r *Registration) setUp(up bool) {
	r.mu.Lock()
	r.up = up
	r.mu.Unlock()
}

// Close stops the keep-alive and revokes the lease, which deletes the record.
// It waits at most a few seconds for etcd; if the revoke fails the record
// still expires within the TTL. Then it closes the idle connections to etcd of
// the package's own HTTP client (not those of a Config.HTTPClient), so nothing
// of the registration is left running. Calling it again returns the first
// result.
func (r *Registration) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		r.mu.Lock()
		lease := r.lease
		r.up = false
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := r.etcd.revoke(ctx, lease); err != nil {
			r.closeErr = fmt.Errorf("registry: revoking the lease: %w", err)
		}
		r.etcd.closeIdle()
	})
	return r.closeErr
}
