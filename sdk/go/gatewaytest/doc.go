// Package gatewaytest helps a backend test itself without a gateway: it builds
// the requests a gateway would POST, decodes a handler's answer back into a
// gateway.Reply, and runs a fake of the gateway's push API that records what
// the backend pushed.
//
//	mux := newGameMux(client)
//	ans := gatewaytest.Serve(mux, gatewaytest.NewRequest(1001, "", []byte("alice")))
//	if ans.StatusCode != 200 || ans.Reply.Bind != "alice" { t.Fatal(ans) }
package gatewaytest
