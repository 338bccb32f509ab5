package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// MemoryResult is the settled memory a PBX's objects cost the nodes: the
// RSS of the lease owner (AMI model and router) and of a non-owner (router
// only) with Extensions extensions, minus the same with one (a cluster
// needs a user), per extension added.
type MemoryResult struct {
	Nodes      int `json:"nodes"`
	Extensions int `json:"extensions"`
	// Owner and NonOwner are the settled samples with and without the
	// extensions.
	Owner    MemorySample `json:"owner"`
	NonOwner MemorySample `json:"non_owner"`
	// OwnerKiBPerExten and NonOwnerKiBPerExten are (RSS with Extensions −
	// RSS with one) / (Extensions − 1).
	OwnerKiBPerExten    float64 `json:"owner_kib_per_extension"`
	NonOwnerKiBPerExten float64 `json:"non_owner_kib_per_extension"`
	// ...HeapKiBPerExten split the cost as the Go heap sees it.
	OwnerHeapKiBPerExten    float64 `json:"owner_heap_kib_per_extension"`
	NonOwnerHeapKiBPerExten float64 `json:"non_owner_heap_kib_per_extension"`
}

// MemorySample is one node's settled RSS and heap in use, with one
// extension (base) and with all of them.
type MemorySample struct {
	RSSBaseKiB  int64   `json:"rss_base_kib"`
	RSSKiB      int64   `json:"rss_kib"`
	HeapBaseKiB float64 `json:"heap_base_kib"`
	HeapKiB     float64 `json:"heap_kib"`
}

// memoryWait is how long a started cluster sits before it is sampled, so
// the start-up garbage (the AMI snapshot, the state read) is gone.
const memoryWait = 5 * time.Second

// memory measures the settled RSS per extension of the owner and of a
// non-owner: the same cluster (nodes + Redis + the simulated PBX) is
// started with 1 and then n extensions, and each node is sampled after a
// garbage collection that returns freed pages to the OS.
func (b *runner) memory(ctx context.Context, name string, nodes, n int) Result {
	res := Result{Name: name}
	if nodes < 2 || n < 2 {
		res.Error = "the memory scenario needs 2 nodes or more (an owner and a non-owner) and 2 extensions or more"
		return res
	}
	base, _, err := b.memorySample(ctx, nodes, 1, "")
	if err != nil {
		res.Error = "1 extension: " + err.Error()
		return res
	}
	prof := ""
	if b.o.ProfileDir != "" {
		prof = filepath.Join(b.o.ProfileDir, fmt.Sprintf("memory-%d", n))
	}
	with, profiles, err := b.memorySample(ctx, nodes, n, prof)
	if err != nil {
		res.Error = fmt.Sprintf("%d extensions: %s", n, err)
		return res
	}
	res.Profiles = profiles
	mr := &MemoryResult{Nodes: nodes, Extensions: n}
	for i, s := range []*MemorySample{&mr.Owner, &mr.NonOwner} {
		s.RSSBaseKiB, s.HeapBaseKiB = base[i].proc.RSS/1024, base[i].heap/1024
		s.RSSKiB, s.HeapKiB = with[i].proc.RSS/1024, with[i].heap/1024
	}
	per := func(a, b float64) float64 { return (a - b) / float64(n-1) }
	mr.OwnerKiBPerExten = per(float64(mr.Owner.RSSKiB), float64(mr.Owner.RSSBaseKiB))
	mr.NonOwnerKiBPerExten = per(float64(mr.NonOwner.RSSKiB), float64(mr.NonOwner.RSSBaseKiB))
	mr.OwnerHeapKiBPerExten = per(mr.Owner.HeapKiB, mr.Owner.HeapBaseKiB)
	mr.NonOwnerHeapKiBPerExten = per(mr.NonOwner.HeapKiB, mr.NonOwner.HeapBaseKiB)
	res.Memory = mr
	return res
}

// memorySample starts a cluster with n extensions and returns the settled
// samples of its owner and of one non-owner, in that order; with prof set,
// it also writes their heap profiles to prof-owner.pprof and
// prof-non-owner.pprof.
func (b *runner) memorySample(ctx context.Context, nodes, n int, prof string) ([2]memSample, []string, error) {
	var out [2]memSample
	spec := b.spec(nodes, n, 0)
	spec.Pprof = true // for the garbage collections before the samples
	c, err := StartCluster(ctx, spec, b.log)
	if err != nil {
		return out, nil, err
	}
	defer c.Stop()
	owner := -1
	for deadline := time.Now().Add(30 * time.Second); owner < 0; {
		if owner = c.Owner(ctx); owner >= 0 {
			break
		}
		if time.Now().After(deadline) {
			return out, nil, fmt.Errorf("no node owns the tenant")
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return out, nil, err
		}
	}
	other := (owner + 1) % nodes
	if err := sleepCtx(ctx, memoryWait); err != nil {
		return out, nil, err
	}
	var profiles []string
	for k, i := range []int{owner, other} {
		// Twice: the first collection only moves what sync.Pools hold
		// (e.g. the JSON buffer of the readiness check's REST request) to
		// their victim caches; the second frees it, as a quiet node's
		// periodic collections do.
		for range 2 {
			if err := c.CollectGarbage(ctx, i); err != nil {
				return out, nil, err
			}
		}
		_ = sleepCtx(ctx, time.Second)
		out[k] = memSample{proc: c.Sample()[i], heap: c.NodeMetric(ctx, i, "go_memstats_heap_inuse_bytes")}
		if prof != "" {
			f := prof + []string{"-owner.pprof", "-non-owner.pprof"}[k]
			if err := c.HeapProfile(ctx, i, f); err != nil {
				b.log.Warn("heap profile failed", "err", err)
			} else {
				profiles = append(profiles, f)
			}
		}
	}
	b.log.Info("memory sampled", "extensions", n, "owner_rss_kib", out[0].proc.RSS/1024, "non_owner_rss_kib", out[1].proc.RSS/1024)
	return out, profiles, nil
}
