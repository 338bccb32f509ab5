package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MetricValue returns the value of the sample `name{labels}` in a Prometheus
// text exposition. labels is the exact label text between the braces, e.g.
// `tenant="bench"` ("" for a sample without labels). ok is false when the
// sample is absent.
func MetricValue(body []byte, name, labels string) (v float64, ok bool) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		rest, found := strings.CutPrefix(line, want)
		if !found || len(rest) == 0 || rest[0] != ' ' {
			continue
		}
		f := strings.Fields(rest)
		x, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false
		}
		return x, true
	}
	return 0, false
}

// SumMetric adds every sample of name whose label text contains each of
// the given label pairs (e.g. `tenant="bench"`).
func SumMetric(body []byte, name string, must ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, name)
		if !found || len(rest) == 0 || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		lbl := ""
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			lbl, rest = rest[1:end], rest[end+1:]
		}
		okAll := true
		for _, m := range must {
			if !strings.Contains(lbl, m) {
				okAll = false
				break
			}
		}
		if !okAll {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if x, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += x
		}
	}
	return sum
}

// fetch GETs url and returns the body of a 200 answer.
func fetch(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	return request(ctx, hc, http.MethodGet, url)
}

// request sends a bodiless request and returns the body of a 200 answer.
func request(ctx context.Context, hc *http.Client, method, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}
