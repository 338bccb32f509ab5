package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/ctiws/ctiws/internal/periodic"
)

// exitSchema is the exit code of a node that refuses to start because
// Redis holds data of an incompatible schema.
const exitSchema = 3

// errSchema marks errors that exit with code exitSchema.
type errSchema struct{ err error }

func (e errSchema) Error() string { return e.err.Error() }
func (e errSchema) Unwrap() error { return e.err }

// Bounds of the schema check: the wait for Redis at start, and the retry
// period while Redis does not answer.
const (
	schemaFirstWait = 3 * time.Second
	schemaRetry     = 500 * time.Millisecond
)

// guardSchema checks the Redis schema version with check (see
// redisbackend.CheckSchema). An incompatible schema found at start is
// returned as an errSchema. While Redis does not answer the node starts
// anyway (it stays unready) and the check is retried in the background until
// Redis answers; an incompatible schema found then stops the node through
// fail.
func guardSchema(ctx context.Context, check func(context.Context) error, log *slog.Logger, fail context.CancelCauseFunc) error {
	verdict := func(ctx context.Context, wait time.Duration) (done bool, err error) {
		cctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		err = check(cctx)
		if se, ok := errors.AsType[*redisbackend.SchemaError](err); ok {
			return true, errSchema{se}
		}
		return err == nil, err
	}
	done, err := verdict(ctx, schemaFirstWait)
	if done {
		return err
	}
	log.Warn("Redis schema version not checked yet: Redis does not answer; checking again until it does", "err", err)
	go func() {
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		periodic.Every(ctx, schemaRetry, func(ctx context.Context) {
			done, err := verdict(ctx, schemaFirstWait)
			switch {
			case !done:
				return // Redis still does not answer: next period
			case err != nil:
				log.Error("stopping: Redis holds data of an incompatible schema", "err", err)
				fail(err)
			default:
				log.Info("Redis schema version checked")
			}
			stop()
		})
	}()
	return nil
}
