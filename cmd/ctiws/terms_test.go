package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ownerTerm is one node's term as a tenant's owner, as its log tells it:
// the node logs "PBX ownership acquired" before it counts itself the owner
// and "PBX ownership ended" once its AMI session has stopped and it no
// longer does (ownership.Owner.term), so the interval covers the node's own
// belief. The nodes share this machine's clock, so the terms of two nodes
// compare exactly, unlike metrics scraped one node after the other.
type ownerTerm struct {
	node, tenant string
	epoch        uint64
	from, to     time.Time // to is zero while the term runs
}

func (t ownerTerm) String() string {
	to := "running"
	if !t.to.IsZero() {
		to = t.to.Format("15:04:05.000000")
	}
	return fmt.Sprintf("%s owned %s (epoch %d) %s–%s", t.node, t.tenant, t.epoch, t.from.Format("15:04:05.000000"), to)
}

// terms reads every node's ownership terms from its log.
func (c *testCluster) terms() []ownerTerm {
	var out []ownerTerm
	for _, n := range c.nodes {
		open := map[string]int{} // tenant → index in out
		for _, line := range strings.Split(n.log(), "\n") {
			if !strings.HasPrefix(line, "{") || !strings.Contains(line, "PBX ownership") {
				continue
			}
			var l struct {
				Time   time.Time `json:"time"`
				Msg    string    `json:"msg"`
				Tenant string    `json:"tenant"`
				Epoch  uint64    `json:"epoch"`
			}
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			switch l.Msg {
			case "PBX ownership acquired":
				open[l.Tenant] = len(out)
				out = append(out, ownerTerm{node: n.name, tenant: l.Tenant, epoch: l.Epoch, from: l.Time})
			case "PBX ownership ended":
				if i, ok := open[l.Tenant]; ok {
					out[i].to = l.Time
					delete(open, l.Tenant)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from.Before(out[j].from) })
	return out
}

// overlapping returns the pairs of terms of one tenant on two nodes that
// overlap in time: two nodes counting themselves its owner at once.
func overlapping(terms []ownerTerm) []string {
	var out []string
	for i, a := range terms {
		for _, b := range terms[i+1:] {
			if a.tenant != b.tenant || a.node == b.node {
				continue
			}
			// b starts no earlier than a (sorted); they overlap when a
			// has not ended by then.
			if a.to.IsZero() || b.from.Before(a.to) {
				out = append(out, fmt.Sprintf("%v and %v", a, b))
			}
		}
	}
	return out
}
