package guard

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecover(t *testing.T) {
	var logs bytes.Buffer
	p := New(prometheus.NewRegistry(), slog.New(slog.NewJSONHandler(&logs, nil)))
	var got error
	func() {
		defer p.Recover(Router, "t1", func(err error) { got = err })
		panic("boom")
	}()
	if got == nil || !strings.Contains(got.Error(), "boom") {
		t.Fatalf("then got %v", got)
	}
	if n := testutil.ToFloat64(p.Counter(Router, "t1")); n != 1 {
		t.Errorf("counter = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), `"tenant":"t1"`) || !strings.Contains(logs.String(), "stack") {
		t.Errorf("log %s: want tenant and stack", logs.String())
	}
	// No panic: nothing counted, then not called.
	called := false
	func() {
		defer p.Recover(Router, "t1", func(error) { called = true })
	}()
	if called || testutil.ToFloat64(p.Counter(Router, "t1")) != 1 {
		t.Error("Recover acted without a panic")
	}
	// A nil *Panics still recovers.
	var nilP *Panics
	var err error
	func() {
		defer nilP.Recover(Owner, "t2", func(e error) { err = e })
		panic(errors.New("nil receiver"))
	}()
	if err == nil {
		t.Error("nil *Panics did not recover")
	}
}
