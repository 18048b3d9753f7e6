package registry

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Layouts: how a record is keyed and encoded, so that services of either
// framework, and the gateway's discovery, read it.
const (
	// LayoutKratos keys a record <prefix>/<name>/<id> (prefix default
	// "/microservices") with a JSON value {"id", "name", "version",
	// "metadata", "endpoints"}.
	LayoutKratos = "kratos"
	// LayoutGoZero keys a record <prefix><name>/<id> (prefix default ""), the
	// id being the lease id unless Instance.ID is set, with the instance's
	// HTTP host:port as plain text.
	LayoutGoZero = "go-zero"

	defaultKratosPrefix = "/microservices"
)

// record is one layout's way of writing an instance.
type record struct {
	layout, prefix string
	inst           Instance
	value          string
}

func newRecord(layout, prefix string, inst Instance) (*record, error) {
	if inst.Name == "" {
		return nil, fmt.Errorf("registry: Instance.Name is empty")
	}
	layout, prefix, err := layoutPrefix(layout, prefix)
	if err != nil {
		return nil, err
	}
	r := &record{layout: layout, prefix: prefix, inst: inst}
	switch layout {
	case LayoutKratos:
		if inst.ID == "" {
			return nil, fmt.Errorf("registry: Instance.ID is empty (the kratos layout keys records by it)")
		}
		metadata := inst.Metadata
		if metadata == nil {
			metadata = map[string]string{} // kratos readers expect an object
		}
		endpoints := inst.Endpoints
		if endpoints == nil {
			endpoints = []string{}
		}
		value, err := json.Marshal(struct {
			ID        string            `json:"id"`
			Name      string            `json:"name"`
			Version   string            `json:"version"`
			Metadata  map[string]string `json:"metadata"`
			Endpoints []string          `json:"endpoints"`
		}{inst.ID, inst.Name, inst.Version, metadata, endpoints})
		if err != nil {
			return nil, err
		}
		r.value = string(value)
	case LayoutGoZero:
		hostPort, err := httpHostPort(inst.Endpoints)
		if err != nil {
			return nil, err
		}
		r.value = hostPort
	}
	return r, nil
}

// layoutPrefix resolves the defaults: the layout ("" is kratos) and its prefix
// (kratos: "/microservices", kept without a trailing "/"; go-zero: as given).
func layoutPrefix(layout, prefix string) (string, string, error) {
	switch layout {
	case "", LayoutKratos:
		if prefix == "" {
			prefix = defaultKratosPrefix
		}
		return LayoutKratos, strings.TrimRight(prefix, "/"), nil
	case LayoutGoZero:
		return LayoutGoZero, prefix, nil
	default:
		return "", "", fmt.Errorf("registry: unknown layout %q (kratos or go-zero)", layout)
	}
}

// key is the record's key while it is attached to lease.
func (r *record) key(lease int64) string {
	if r.layout == LayoutKratos {
		return r.prefix + "/" + r.inst.Name + "/" + r.inst.ID
	}
	id := r.inst.ID
	if id == "" {
		id = strconv.FormatInt(lease, 10) // what go-zero's own publisher does
	}
	return r.prefix + r.inst.Name + "/" + id
}

// httpHostPort picks the HTTP address go-zero publishes: the first http:// or
// https:// endpoint's host:port (the scheme's port when it names none), or the
// first one given without a scheme, as is.
func httpHostPort(endpoints []string) (string, error) {
	for _, e := range endpoints {
		if !strings.Contains(e, "://") {
			return e, nil
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			continue
		}
		// go-zero's value always names the port, and readers expect one.
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return net.JoinHostPort(u.Hostname(), port), nil
	}
	return "", fmt.Errorf("registry: the go-zero layout needs an http:// endpoint (or host:port) in Instance.Endpoints, got %q", endpoints)
}
