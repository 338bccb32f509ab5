package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ctiws/ctiws/internal/periodic"
)

// tenantsDirPoll is how often a node looks for changes in tenants_dir.
const tenantsDirPoll = 2 * time.Second

// watchTenantsDir signals changed when anything in dir (its tenant
// folders and their files) changed since the last look, until ctx ends.
// It compares names, sizes and modification times, so a change is seen
// within tenantsDirPoll whatever mounts the folder (a Kubernetes volume
// swaps a symlink; inotify would miss it).
func watchTenantsDir(ctx context.Context, dir string, changed chan<- struct{}, log *slog.Logger) {
	last, err := dirState(dir)
	if err != nil {
		log.Warn("tenants_dir unreadable", "dir", dir, "err", err)
	}
	periodic.Every(ctx, tenantsDirPoll, func(context.Context) {
		cur, err := dirState(dir)
		if err != nil {
			log.Warn("tenants_dir unreadable", "dir", dir, "err", err)
			return
		}
		if cur != last {
			last = cur
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
}

// dirState hashes the names, sizes and modification times of dir's
// folders and of the files in them (following symlinks).
func dirState(dir string) (uint64, error) {
	h := fnv.New64a()
	folders, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, f := range folders {
		p := filepath.Join(dir, f.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		files, err := os.ReadDir(p)
		if err != nil {
			continue
		}
		names := make([]string, 0, len(files))
		for _, e := range files {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			st, err := os.Stat(filepath.Join(p, n))
			if err != nil {
				continue
			}
			fmt.Fprintf(h, "%s/%s\x00%d\x00%d\x00", f.Name(), n, st.Size(), st.ModTime().UnixNano())
		}
	}
	return h.Sum64(), nil
}
