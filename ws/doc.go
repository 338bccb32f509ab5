// Package ws is the client-facing side of a ctiws node: the Socket.IO
// (Engine.IO 4, websocket transport only) endpoint that NethCTI clients log
// in to, the REST API, and the routing of PBX events to sockets with the
// privacy rules of NethCTI.
//
// Its parts, each a type with the few dependencies it uses:
//
//   - Server (server.go, options.go): the sockets of every tenant: the
//     upgrade and Engine.IO/Socket.IO (socketio.go), the socket layer
//     (conn.go, socket.go, writers.go), the socket login (login.go), the
//     message relay (relay.go), the token refresh (tokenrefresh.go), the
//     node's sessions and timers (run.go), tenants added, removed and
//     reloaded (tenants.go, passwords.go) and the drain (drain.go).
//   - restAPI (rest.go and the rest_*.go files by route family): the REST
//     API, built from restDeps.
//   - authenticator (authenticator.go): tokens and JWTs, shared by the
//     socket login and the REST API.
//   - router (router*.go): a tenant's event router, from the bus to the
//     tenant's logged-in sockets on this node (socketIndex,
//     socketindex.go), built from routerDeps.
//
// The package's errors are in error.go.
package ws
