package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/ws"
	"github.com/prometheus/client_golang/prometheus"
)

// TestConsoleMounted: the console answers on the internal listener's mux
// only when configured.
func TestConsoleMounted(t *testing.T) {
	hash := "admin:$2a$04$H1pWi6PxqwXV8kv9sOU2Pekr.hCYPcyKHCld21DDSGk6OPRLEULL6\n"
	cases := []struct {
		name string
		cc   config.Console
		want int
	}{
		{"off by default", config.Console{}, http.StatusNotFound},
		{"on", config.Console{HtpasswdFile: "c.htpasswd", Htpasswd: []byte(hash)}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Console = tc.cc
			backend := memory.New().Cluster()
			srv := ws.New(ws.Options{NodeID: "n1", Backend: backend})
			log := slog.New(slog.DiscardHandler)
			reg := prometheus.NewRegistry()
			mux := metricsMux(reg, backend, srv, false, true)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := mountConsole(ctx, mux, &cfg, backend, srv, reg, func() {}, nil, log); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest("GET", "/console/login", nil))
			if w.Code != tc.want {
				t.Fatalf("GET /console/login: %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestStoreTopology(t *testing.T) {
	for url, want := range map[string]string{
		"":                          "in memory (one node)",
		"redis://r:6379/0":          "redis (redis)",
		"rediss+sentinel://s:26379": "redis sentinel (rediss+sentinel)",
		"redis+cluster://a:1,b:2":   "redis cluster (redis+cluster)",
	} {
		if got := storeTopology(url); got != want {
			t.Errorf("storeTopology(%q) = %q, want %q", url, got, want)
		}
	}
}
