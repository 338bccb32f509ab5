package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// duplicateKeys returns the keys that appear more than once in one JSON
// object of line, at any depth (Elasticsearch and OpenSearch refuse such
// documents).
func duplicateKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	var dups []string
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := fmt.Sprint(k)
				if seen[key] {
					dups = append(dups, key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token() // }
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ]
			return err
		}
		return nil
	}
	err := walk()
	return dups, err
}

func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`{"a":1,"b":{"a":2}}`, nil},
		{`{"tenant":"x","msg":"m","tenant":"x"}`, []string{"tenant"}},
		{`{"a":[{"k":1,"k":2}],"b":{"c":1,"c":[1]}}`, []string{"k", "c"}},
	}
	for _, tt := range tests {
		got, err := duplicateKeys(tt.line)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v %v, want %v", tt.line, got, err, tt.want)
		}
	}
}

// checkJSONLogs fails on a log line that is not a JSON object, repeats a
// key, or writes a duration as a number.
func checkJSONLogs(t *testing.T, logs string, durationKeys ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 2 {
		t.Fatalf("too few log lines to check:\n%s", logs)
	}
	for _, line := range lines {
		dups, err := duplicateKeys(line)
		if err != nil {
			t.Errorf("not JSON: %v: %s", err, line)
			continue
		}
		if len(dups) > 0 {
			t.Errorf("duplicate keys %v in: %s", dups, line)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		for _, k := range durationKeys {
			if v, ok := m[k]; ok {
				if _, isString := v.(string); !isString {
					t.Errorf("duration %q logged as %T, want a duration string: %s", k, v, line)
				}
			}
		}
	}
}

// The node's logger writes durations as Go duration strings, also in
// attributes set with With and inside groups.
func TestLoggerDurations(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "info").With("in", 1500*time.Millisecond)
	log.Info("x", "took", 3*time.Millisecond, slog.Group("g", "wait", time.Minute), "n", 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	g, _ := m["g"].(map[string]any)
	if m["took"] != "3ms" || m["in"] != "1.5s" || g["wait"] != "1m0s" || m["n"] != 3.0 {
		t.Fatalf("got %s", buf.String())
	}
}
