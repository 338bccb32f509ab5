// Package console is the operator console: a small server-rendered web
// application that every node serves on its internal listener (the
// metrics port, never the public one) under /console/. It shows the whole
// cluster from the shared store, whichever node serves it
// (docs/operations.md, "The operator console").
//
// It has its own users (an htpasswd file of bcrypt hashes), a signed
// session cookie (HttpOnly, SameSite=Strict, Secure behind TLS), a CSRF
// token checked on every POST and login back-off per user and address.
// It is off unless configured. Templates and assets are embedded in the
// binary (go:embed); the pages work without JavaScript, which only makes
// the live parts live.
package console
