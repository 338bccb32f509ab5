package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/prometheus/client_golang/prometheus"
)

func newRedisBackend(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (cluster.Backend, error) {
	return cluster.Backend{}, errors.New("redis backend: not wired yet")
}
