// The demo's game backend written with the Go SDK: what examples/backend.ts
// does, as a studio would write it in Go. The gateway forwards cmds 1000-2999
// here (target URL http://127.0.0.1:8081/game/{cmd}) and its lifecycle events.
//
//	PORT               listen port on 127.0.0.1 (default 8081)
//	GATEWAY_API        the gateway's API base URLs, comma-separated (default: from etcd
//	                   when ETCD_ENDPOINTS is set, else http://127.0.0.1:7002)
//	GATEWAY_API_TOKEN  the API's bearer token, when api.token is set
//	ETCD_ENDPOINTS     when set, register as service "game" in etcd and find the
//	                   gateways there (service "game-gateway")
//	REGISTRY_LAYOUT    the etcd record layout: kratos (default) or go-zero
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	gateway "game-gateway/sdk/go"
	"game-gateway/sdk/go/registry"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	var etcd *registry.Config
	if endpoints := os.Getenv("ETCD_ENDPOINTS"); endpoints != "" {
		etcd = &registry.Config{Endpoints: strings.Split(endpoints, ","), Layout: os.Getenv("REGISTRY_LAYOUT")}
	}
	addrs, err := gatewayAddrs(etcd)
	if err != nil {
		return err
	}
	api, err := gateway.NewClient(gateway.ClientConfig{Addrs: addrs, Token: os.Getenv("GATEWAY_API_TOKEN")})
	if err != nil {
		return err
	}
	game := NewGame(api)
	mux := http.NewServeMux()
	mux.Handle("/game/", game.Mux())

	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", env("PORT", "8081")))
	if err != nil {
		return err
	}
	addr := listener.Addr().String()
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second, // longer than the gateway keeps idle connections
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	log.Printf("go-backend listening on %s", addr)

	var reg *registry.Registration
	if etcd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		reg, err = registry.Register(ctx, *etcd, registry.Instance{
			ID:        "game-" + addr,
			Name:      "game",
			Version:   "0.1.0",
			Endpoints: []string{"http://" + addr},
		})
		cancel()
		if err != nil {
			return err
		}
		log.Printf("registered in etcd as %s", reg.Key())
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-served:
		return err
	case <-stop:
	}
	// Leave the registry first, so the gateway sends nothing new, then let the
	// requests in flight finish.
	if reg != nil {
		if err := reg.Close(); err != nil {
			log.Print(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// No handler pushes any more: drop the pooled connections to the gateways.
	api.CloseIdleConnections()
	log.Print("go-backend stopped")
	return nil
}

// gatewayAddrs is where the gateways' push API is: GATEWAY_API, else the
// gateways registered in etcd (their records list the API address first).
func gatewayAddrs(etcd *registry.Config) ([]string, error) {
	if v := os.Getenv("GATEWAY_API"); v != "" || etcd == nil {
		return strings.Split(env("GATEWAY_API", "http://127.0.0.1:7002"), ","), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gateways, err := registry.Lookup(ctx, *etcd, "game-gateway")
	if err != nil {
		return nil, err
	}
	addrs := registry.HTTPAddrs(gateways)
	if len(addrs) == 0 {
		return nil, errors.New("no gateway registered in etcd under game-gateway: start one, or set GATEWAY_API")
	}
	log.Printf("gateways from etcd: %s", strings.Join(addrs, ", "))
	return addrs, nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
