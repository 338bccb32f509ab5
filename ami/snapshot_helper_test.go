package ami

import (
	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// snapshot returns m's full current state as keyed change events (with
// the clock-derived fields filled in), without changing what m considers
// published. Tests only: a new owner rebuilds its state from AMI
// (fetchSnapshot, applySnapshot).
func snapshot(m *Model) []cluster.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	saved := m.last
	m.last = map[okey]pbx.Digest{}
	m.out = nil
	for _, k := range m.keys() {
		m.publish(k)
	}
	out := m.out
	m.out = nil
	m.last = saved
	return out
}
