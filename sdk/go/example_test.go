package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	gateway "game-gateway/sdk/go"
)

// A login that binds the session and joins a group, and a game cmd that pushes
// to that group through the gateway's API.
func ExampleMux() {
	api, err := gateway.NewClient(gateway.ClientConfig{Addrs: []string{"http://127.0.0.1:7002"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := gateway.NewMux()
	mux.Handle(1001, func(ctx context.Context, req *gateway.Request) (*gateway.Reply, error) {
		name := string(req.Body)
		if name == "" {
			return nil, gateway.ErrUnauthorized
		}
		return &gateway.Reply{Bind: name, Join: []string{"lobby"}}, nil
	})
	mux.HandleRange(2000, 2999, func(ctx context.Context, req *gateway.Request) (*gateway.Reply, error) {
		if _, err := api.PushGroup(ctx, "lobby", 5001, req.Body); err != nil {
			return nil, err
		}
		return nil, nil
	})
	mux.HandleEvent(func(ctx context.Context, req *gateway.Request) {
		log.Printf("%s is %s", req.PlayerID, req.Event)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", mux))
}

func ExampleClient_Push() {
	api, _ := gateway.NewClient(gateway.ClientConfig{
		Addrs: []string{"http://10.0.0.5:7002", "http://10.0.0.6:7002"}, // the second if the first is down
		Token: "the api.token",
	})
	res, err := api.Push(context.Background(), []string{"alice", "bob"}, 2001, []byte("hello"), gateway.NoOffline())
	var apiErr *gateway.APIError
	switch {
	case errors.As(err, &apiErr):
		log.Printf("the gateway refused: %d %s %s", apiErr.StatusCode, apiErr.Code, apiErr.Message)
	case err != nil:
		log.Printf("no gateway answered: %v", err)
	default:
		fmt.Println(res.Delivered, "delivered;", res.Results["bob"])
	}
}

func ExampleClient_Player() {
	api, _ := gateway.NewClient(gateway.ClientConfig{Addrs: []string{"http://127.0.0.1:7002"}})
	p, err := api.Player(context.Background(), "alice")
	if errors.Is(err, gateway.ErrNotFound) {
		fmt.Println("alice is not known to the gateway")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Online, p.Node, p.OfflineQueued)
}
