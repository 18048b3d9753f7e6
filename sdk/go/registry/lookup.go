package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Lookup reads the instances registered under service, in cfg's layout and
// prefix, in key order: how a backend finds the gateways' push API (service
// "game-gateway", whose records have the API address first) or any other
// service, without an etcd client library. Records that do not decode in the
// layout are skipped; a service nobody registered gives an empty list.
//
// Instance.ID is the key's last segment: for the gateway's own records it is
// the node id, the x-gateway-node of the requests that node forwards. For the
// go-zero layout, Name is service and Endpoints is ["http://<host:port>"].
func Lookup(ctx context.Context, cfg Config, service string) ([]Instance, error) {
	if service == "" {
		return nil, fmt.Errorf("registry: Lookup of an empty service name")
	}
	etcd, err := newEtcdClient(cfg)
	if err != nil {
		return nil, err
	}
	defer etcd.closeIdle() // one read: keep no connection to etcd open after it
	layout, prefix, err := layoutPrefix(cfg.Layout, cfg.Prefix)
	if err != nil {
		return nil, err
	}
	servicePrefix := prefix + service + "/"
	if layout == LayoutKratos {
		servicePrefix = prefix + "/" + service + "/"
	}
	kvs, err := etcd.rangePrefix(ctx, servicePrefix)
	if err != nil {
		return nil, fmt.Errorf("registry: reading %s: %w", servicePrefix, err)
	}
	instances := make([]Instance, 0, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.key, servicePrefix)
		if inst, ok := decodeRecord(layout, service, id, kv.value); ok {
			instances = append(instances, inst)
		}
	}
	return instances, nil
}

// HTTPAddrs returns each instance's first http:// or https:// endpoint,
// skipping instances without one: for the gateway's records, the push API base
// URLs, ready for gateway.ClientConfig.Addrs.
func HTTPAddrs(instances []Instance) []string {
	var addrs []string
	for _, inst := range instances {
		for _, e := range inst.Endpoints {
			if u, err := url.Parse(e); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				addrs = append(addrs, u.Scheme+"://"+u.Host+strings.TrimRight(u.Path, "/"))
				break
			}
		}
	}
	return addrs
}

// decodeRecord reads one record's value; ok is false for a value the layout's
// writers would not produce.
func decodeRecord(layout, service, id, value string) (Instance, bool) {
	if layout == LayoutGoZero {
		hostPort := strings.TrimSpace(value)
		if _, err := url.Parse("http://" + hostPort); err != nil || hostPort == "" || strings.ContainsAny(hostPort, "/ ") {
			return Instance{}, false
		}
		return Instance{ID: id, Name: service, Endpoints: []string{"http://" + hostPort}}, true
	}
	var rec struct {
		ID        string            `json:"id"`
		Name      string            `json:"name"`
		Version   string            `json:"version"`
		Metadata  map[string]string `json:"metadata"`
		Endpoints []string          `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(value), &rec); err != nil {
		return Instance{}, false
	}
	return Instance{ID: id, Name: rec.Name, Version: rec.Version, Metadata: rec.Metadata, Endpoints: rec.Endpoints}, true
}
