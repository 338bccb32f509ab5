// Package clustertest is the contract test suite every implementation of
// package cluster must pass, plus helpers for writing backend tests.
//
// Run it from a _test.go file of the implementation:
//
//	func TestContract(t *testing.T) {
//		clustertest.Run(t, func(t *testing.T) cluster.Backend { return memory.New().Cluster() })
//	}
//
// Each case gets its own backend from the factory and uses random tenant and
// node names, so cases may run in parallel against one shared Redis. The
// suite closes every backend it is given. Timing assertions are only of the
// kind "eventually, within Bound".
package clustertest

import (
	"testing"

	"github.com/ctiws/ctiws/cluster"
)

// Case is one contract test.
type Case struct {
	Name string
	Fn   func(t *testing.T, b cluster.Backend)
}

// Cases returns the contract cases, for callers that want to pick some.
func Cases() []Case {
	var cs []Case
	cs = append(cs, tokenCases()...)
	cs = append(cs, sessionCases()...)
	cs = append(cs, ownershipCases()...)
	cs = append(cs, busCases()...)
	cs = append(cs, busOrderCases()...)
	cs = append(cs, commandCases()...)
	cs = append(cs, consoleCases()...)
	cs = append(cs, Case{"ready", testReady})
	return cs
}

// Run runs every contract case, in parallel, each against a fresh backend.
func Run(t *testing.T, newBackend func(t *testing.T) cluster.Backend) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			if b.Close != nil {
				t.Cleanup(func() { _ = b.Close() })
			}
			c.Fn(t, b)
		})
	}
}

func testReady(t *testing.T, b cluster.Backend) {
	if b.Ready == nil {
		t.Fatal("Backend.Ready is nil")
	}
	if err := b.Ready(Ctx(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}
