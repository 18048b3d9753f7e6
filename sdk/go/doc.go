// Package gateway is the Go SDK for services behind the game gateway.
//
// Inbound, the gateway forwards every client request as an HTTP POST whose
// x-gateway-* headers say which command, session and player it is for. A [Mux]
// parses them into a [Request], calls the [HandlerFunc] registered for the
// command and turns the returned [Reply] into the 2xx answer and directive
// headers (bind, unbind, join, leave, close) the gateway applies. Handler errors
// become the HTTP statuses the gateway maps to client status codes:
//
//	ErrUnauthorized           401  → AUTH_FAILED
//	Reject(4xx, msg)          4xx  → BACKEND_REJECTED (401/403 → AUTH_FAILED)
//	any other error, a panic  500  → BACKEND_ERROR
//	no handler for the cmd    404  → BACKEND_REJECTED
//	not from a gateway        400  (no x-gateway-cmd header)
//
// Outbound, a [Client] calls the gateway's push and admin API: push to players,
// groups or everyone, manage group members, kick, look players up.
//
// The module uses the standard library only, so a backend inherits no
// dependencies from it.
package gateway
