package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
)

// TestRestartKeyObjects: a changed objects file restarts the tenant's PBX on
// reload. The running tenant's key is the file as it was when it started,
// so comparing it with the new configuration's sees the change (reading the
// file again for the old tenant would see the new contents twice).
func TestRestartKeyObjects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("u.json", `{"alice":{"endpoints":{"mainextension":{"201":{}}}}}`)
	write("p.json", `{}`)
	write("c.yaml", "tenants:\n  - id: a\n    ami: {address: \"127.0.0.1:5038\", username: u, secret: s}\n    auth: {jwt_secret: "+tenantJWT("a")+"}\n    users_file: u.json\n    profiles_file: p.json\n    objects_file: o.json\n")
	load := func() *config.Tenant {
		t.Helper()
		c, err := config.Load(filepath.Join(dir, "c.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &c.Tenants[0]
	}
	write("o.json", `{"queues":{"401":{"name":"Support"}}}`)
	running := load()
	if again := load(); restartKey(running) != restartKey(again) {
		t.Fatal("an unchanged objects file restarts the tenant")
	}
	write("o.json", `{"queues":{"401":{"name":"Helpdesk"}}}`)
	if restartKey(running) == restartKey(load()) {
		t.Fatal("a changed objects file does not restart the tenant: the new objects never take effect")
	}
}
