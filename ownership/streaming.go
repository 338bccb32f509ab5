package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// Stream is a streaming source (e.g. a door camera snapshot URL).
type Stream struct {
	// ID names the source; its events go to the target "stream:<id>"
	// (lower case).
	ID string
	// URL is fetched for each frame.
	URL       string
	Framerate float64 // frames per second; 0 means 1
}

// maxImageBytes bounds one fetched frame.
const maxImageBytes = 2 << 20

// pollStreams fetches every source at its frame rate while this node owns
// the tenant and publishes `streamingSourceUpdate` to the sockets subscribed
// to it, only when the image changed.
func pollStreams(ctx context.Context, tenant, node string, streams []Stream, bus cluster.Bus, hc *http.Client, log *slog.Logger) {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	for _, s := range streams {
		go pollStream(ctx, tenant, node, s, bus, hc, log)
	}
	<-ctx.Done()
}

func pollStream(ctx context.Context, tenant, node string, s Stream, bus cluster.Bus, hc *http.Client, log *slog.Logger) {
	rate := s.Framerate
	if rate <= 0 {
		rate = 1
	}
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	var last [32]byte
	failing := false
	for {
		img, err := fetchFrame(ctx, hc, s.URL)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("streaming source unreachable", "tenant", tenant, "source", s.ID, "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				log.Info("streaming source reachable again", "tenant", tenant, "source", s.ID)
			}
			failing = false
			if sum := sha256.Sum256([]byte(img)); sum != last {
				last = sum
				payload := map[string]map[string]string{"streaming": {"source": s.ID, "image": img}}
				data, _ := json.Marshal([]any{payload})
				ev := cluster.Event{Tenant: tenant, Name: "streamingSourceUpdate", Target: "stream:" + strings.ToLower(s.ID),
					Data: data, Origin: node}
				if err := bus.Publish(ctx, ev); err != nil && ctx.Err() == nil {
					log.Warn("streaming publish failed", "tenant", tenant, "source", s.ID, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fetchFrame returns the image at url as a data: URL.
func fetchFrame(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	if len(b) > maxImageBytes {
		return "", fmt.Errorf("image larger than %d bytes", maxImageBytes)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(b)
	}
	return "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(b), nil
}
