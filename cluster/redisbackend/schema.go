package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// SchemaVersion is the version of the Redis data layout (key names, value
// formats, what the scripts expect, the event channels and how they are
// published: sharded pub/sub since version 1) this build reads and writes. It is
// raised only by a change that an older build would misread; additions an
// older build ignores keep it. The rule and the upgrade procedure are in
// docs/operations.md, section "Upgrades, rollbacks and the Redis schema".
const SchemaVersion = 1

// schemaKey holds the schema version of the data in this Redis (not
// tenant-scoped: one value for the whole deployment).
func schemaKey() string { return keyPrefix + "schema" }

// SchemaError reports that Redis holds data of a schema this build cannot
// use. A node must not start on it.
type SchemaError struct {
	Stored    string // the value found in Redis
	Supported int    // SchemaVersion of this build
}

// Error says which schema was found and what to do about it.
func (e *SchemaError) Error() string {
	n, err := strconv.Atoi(e.Stored)
	switch {
	case err != nil || n < 1:
		return fmt.Sprintf("redis key %s holds %q, not a schema version: it was not written by ctiws (this build uses schema %d)", schemaKey(), e.Stored, e.Supported)
	case n > e.Supported:
		return fmt.Sprintf("redis holds ctiws data of schema %d, newer than this build's schema %d: run a build that supports schema %d (a rollback across a schema change needs the data migrated back or removed)", n, e.Supported, n)
	default:
		return fmt.Sprintf("redis holds ctiws data of schema %d, older than this build's schema %d: follow the upgrade steps of this release before starting it", n, e.Supported)
	}
}

// CheckSchema compares the schema version stored in Redis with
// SchemaVersion. When none is stored (a new Redis, or data written before
// the version key existed, which has the layout of version 1) it stores
// SchemaVersion. It returns a *SchemaError when another version is stored,
// and a wrapped Redis error when Redis did not answer.
func (b *Backend) CheckSchema(ctx context.Context) error {
	// SET … NX: ACLRules allows SET, not SETNX.
	err := b.rdb.SetArgs(ctx, schemaKey(), SchemaVersion, redis.SetArgs{Mode: "NX"}).Err()
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: a version was stored already
		return fmt.Errorf("redis schema version: %w", err)
	}
	v, err := b.rdb.Get(ctx, schemaKey()).Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis schema version: %s vanished right after it was written", schemaKey())
	}
	if err != nil {
		return fmt.Errorf("redis schema version: %w", err)
	}
	if v != strconv.Itoa(SchemaVersion) {
		return &SchemaError{Stored: v, Supported: SchemaVersion}
	}
	return nil
}
