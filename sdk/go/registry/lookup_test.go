package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"game-gateway/sdk/go/registry"
)

func TestLookup(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put := func(key, value string) {
		var out json.RawMessage
		e.post("/v3/kv/put", map[string]string{
			"key":   base64.StdEncoding.EncodeToString([]byte(key)),
			"value": base64.StdEncoding.EncodeToString([]byte(value)),
		}, &out)
	}

	t.Run("kratos: every instance of the service, in key order; bad records skipped", func(t *testing.T) {
		gw := func(id, api string) registry.Instance {
			return registry.Instance{ID: id, Name: "game-gateway", Version: "0.1.0", Metadata: map[string]string{"node": id},
				Endpoints: []string{"http://" + api, "tcp://10.0.0.1:7000"}}
		}
		register(t, e, registry.Config{}, gw("gw-2", "10.0.0.2:7002"))
		register(t, e, registry.Config{}, gw("gw-1", "10.0.0.1:7002"))
		register(t, e, registry.Config{}, registry.Instance{ID: "x", Name: "game-gateway-v2", Endpoints: []string{"http://10.9.9.9:1"}})
		put("/microservices/game-gateway/broken", "not json")

		got, err := registry.Lookup(ctx, registry.Config{Endpoints: []string{e.clientURL}}, "game-gateway")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, []registry.Instance{gw("gw-1", "10.0.0.1:7002"), gw("gw-2", "10.0.0.2:7002")}) {
			t.Fatalf("got %+v", got)
		}
		if addrs := registry.HTTPAddrs(got); !reflect.DeepEqual(addrs, []string{"http://10.0.0.1:7002", "http://10.0.0.2:7002"}) {
			t.Fatalf("HTTPAddrs %v", addrs)
		}
	})

	t.Run("go-zero: the value is the HTTP address, the id the key's last segment", func(t *testing.T) {
		cfg := registry.Config{Layout: registry.LayoutGoZero}
		a := register(t, e, cfg, registry.Instance{Name: "chat", Endpoints: []string{"http://10.0.1.1:8000"}})
		register(t, e, cfg, registry.Instance{ID: "zz", Name: "chat", Endpoints: []string{"10.0.1.2:8000"}})
		put("chat/bad", "")
		cfg.Endpoints = []string{e.clientURL}
		got, err := registry.Lookup(ctx, cfg, "chat")
		if err != nil {
			t.Fatal(err)
		}
		leaseID := a.Key()[len("chat/"):]
		want := []registry.Instance{
			{ID: leaseID, Name: "chat", Endpoints: []string{"http://10.0.1.1:8000"}},
			{ID: "zz", Name: "chat", Endpoints: []string{"http://10.0.1.2:8000"}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("a service nobody registered: empty, no error", func(t *testing.T) {
		got, err := registry.Lookup(ctx, registry.Config{Endpoints: []string{e.clientURL}}, "nobody")
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	})

	t.Run("etcd unreachable: an error", func(t *testing.T) {
		if _, err := registry.Lookup(ctx, registry.Config{Endpoints: []string{"http://" + freeAddr(t)}}, "game-gateway"); err == nil {
			t.Fatal("no error")
		}
	})
}
