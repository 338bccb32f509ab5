package redisbackend_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
)

// TestContractWithACL runs the whole contract suite as a Redis user that
// has only redisbackend.ACLRules: a command missing from the documented
// list fails here, not in an operator's cluster.
func TestContractWithACL(t *testing.T) {
	srv := redisserver.Start(t)
	if out, err := srv.Do("ACL SETUSER ctiws on >acl-test-pw " + redisbackend.ACLRules); err != nil || out != "+OK" {
		t.Fatalf("ACL SETUSER: %q %v", out, err)
	}
	url := fmt.Sprintf("redis://ctiws:acl-test-pw@%s/0", srv.Addr())
	clustertest.Run(t, func(t *testing.T) cluster.Backend { return open(t, url).Cluster() })
}

// TestACLRulesDocumented: docs/security.md lists every rule.
func TestACLRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range strings.Fields(redisbackend.ACLRules + " " + redisbackend.SentinelACLRules + " " + redisbackend.ClusterACLRules) {
		if !strings.Contains(string(doc), " "+rule) {
			t.Errorf("docs/security.md does not list the ACL rule %s", rule)
		}
	}
}
