package memory_test

import (
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/memory"
)

func TestContract(t *testing.T) {
	clustertest.Run(t, func(t *testing.T) cluster.Backend { return memory.New().Cluster() })
}
