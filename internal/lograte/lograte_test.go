package lograte

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiterWarn(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)), time.Minute)
	clock := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }

	steps := []struct {
		advance time.Duration
		reason  string
		want    int // occurrences logged, 0 = no line
	}{
		{0, "oversize", 1},
		{time.Second, "oversize", 0},
		{time.Second, "malformed", 1}, // another reason has its own interval
		{time.Second, "oversize", 0},
		{time.Minute, "oversize", 3}, // stands for the two silent ones too
		{time.Second, "oversize", 0},
	}
	for i, s := range steps {
		clock = clock.Add(s.advance)
		buf.Reset()
		l.Warn(s.reason, "bad input", "tenant", "t1")
		if s.want == 0 {
			if buf.Len() != 0 {
				t.Fatalf("step %d: logged %q, want nothing", i, buf.String())
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("step %d: %v in %q", i, err, buf.String())
		}
		if line["reason"] != s.reason || line["occurrences"] != float64(s.want) || line["tenant"] != "t1" {
			t.Errorf("step %d: line %v, want reason %s occurrences %d", i, line, s.reason, s.want)
		}
		if strings.Count(buf.String(), `"reason"`) != 1 {
			t.Errorf("step %d: duplicate reason key in %q", i, buf.String())
		}
	}
}
