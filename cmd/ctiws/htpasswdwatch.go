package main

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"os"
)

// htpasswdWatch notices that a tenant's htpasswd file no longer holds what
// the running configuration read from it, so that the node reloads without
// a SIGHUP (docs/security.md, section 4). It reads the files' content, not
// their modification times: a mounted Kubernetes Secret is replaced by a
// symlink swap, which os.ReadFile follows. It runs on the serve loop, the
// only goroutine that touches the tenants' configurations.
type htpasswdWatch struct {
	// tried is the content digest, per file, of a change that already
	// caused a reload: a file the reload refused (broken) is not retried
	// until it changes again.
	tried map[string][sha256.Size]byte
}

// changed reports whether a file of owners' tenants differs from what the
// tenant runs with, and was not already tried.
func (w *htpasswdWatch) changed(owners *tenantOwners, log *slog.Logger) bool {
	if w.tried == nil {
		w.tried = map[string][sha256.Size]byte{}
	}
	changed := false
	for _, id := range owners.ids() {
		t, _ := owners.config(id)
		path := t.Auth.HtpasswdFile
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			log.Warn("htpasswd file unreadable; the tenant keeps the one it read last", "tenant", id, "file", path, "err", err)
			continue
		}
		if bytes.Equal(b, t.Htpasswd) {
			delete(w.tried, path)
			continue
		}
		sum := sha256.Sum256(b)
		if w.tried[path] == sum {
			continue
		}
		w.tried[path] = sum
		log.Info("htpasswd file changed: reloading", "tenant", id, "file", path)
		changed = true
	}
	return changed
}
