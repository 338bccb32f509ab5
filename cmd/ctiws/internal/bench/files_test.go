package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
)

func TestGeneratedFilesLoad(t *testing.T) {
	dir := t.TempDir()
	users, err := UsersJSON(4)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("users.json", users)
	write("profiles.json", ProfilesJSON())
	nc := NodeConfig{
		NodeID: "n1", Listen: "127.0.0.1:1234", MetricsListen: "127.0.0.1:1235", RedisURL: "redis://127.0.0.1:6390/0",
		AMIAddress: "127.0.0.1:5038", AMIUsername: "bench", AMISecret: `s"e\cret`, JWTSecret: "jwt-secret-of-the-bench", LeaseTTL: 2 * time.Second, Pprof: true,
	}
	write("n1.yaml", ConfigYAML(nc))
	cfg, err := config.Load(filepath.Join(dir, "n1.yaml"), nil)
	if err != nil {
		t.Fatalf("generated config refused: %v\n%s", err, ConfigYAML(nc))
	}
	if cfg.NodeID != "n1" || cfg.Listen != nc.Listen || cfg.RedisURL != nc.RedisURL || cfg.LeaseTTL != 2*time.Second || !cfg.Pprof || cfg.LogLevel != "warn" {
		t.Fatalf("config %+v", cfg)
	}
	ten := cfg.Tenants[0]
	if ten.ID != TenantID || ten.AMI.Address != nc.AMIAddress || ten.AMI.Secret != nc.AMISecret || ten.Auth.JWTSecret != "jwt-secret-of-the-bench" || !ten.Auth.IsEnabled() || ten.Privacy() != "xxx" {
		t.Fatalf("tenant %+v", ten)
	}
	d := ten.Directory
	for i := range 4 {
		u, ok := d.User(UserName(i))
		if !ok {
			t.Fatalf("user %s missing", UserName(i))
		}
		if u.MainExtension != Extension(i) || !u.Owns(Extension(i)) {
			t.Fatalf("user %s main %q", u.Username, u.MainExtension)
		}
		if u.Perms.Privacy != (i%2 == 1) || !u.Perms.PresencePanel {
			t.Fatalf("user %s perms %+v", u.Username, u.Perms)
		}
	}
	if o, ok := d.OwnerOf(Extension(3)); !ok || o.Username != UserName(3) {
		t.Fatal("OwnerOf")
	}
}

func TestConfigYAMLDefaults(t *testing.T) {
	raw := ConfigYAML(NodeConfig{NodeID: "x", Listen: "127.0.0.1:1", MetricsListen: "127.0.0.1:2", AMIAddress: "127.0.0.1:3", AMIUsername: "u", JWTSecret: "jwt-secret-of-the-bench"})
	cfg, err := config.Parse(raw, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if cfg.RedisURL != "" || cfg.Pprof || cfg.LeaseTTL != config.Defaults().LeaseTTL {
		t.Fatalf("defaults not kept: %+v", cfg)
	}
}

func TestSimConfigValid(t *testing.T) {
	sc := SimConfig(10, 50)
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(sc.Extensions) != 10 || sc.Extensions[0].ID != Extension(0) || sc.Extensions[9].ID != Extension(9) || !sc.StartPaused || sc.CallsPerSecond != 0 {
		t.Fatalf("sim config %+v", sc)
	}
}
