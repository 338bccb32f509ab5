package bench

import "testing"

const exposition = `# HELP ctiws_lease_owned 1 while this node owns the tenant's PBX connection.
# TYPE ctiws_lease_owned gauge
ctiws_lease_owned{tenant="bench"} 1
ctiws_lease_owned{tenant="bench2"} 0
ctiws_lease_owned_extra{tenant="bench"} 7
ctiws_slow_consumer_disconnects_total{tenant="bench"} 2
ctiws_slow_consumer_disconnects_total{tenant="other"} 3
go_goroutines 20123
go_goroutines_x 5
`

func TestMetricValue(t *testing.T) {
	if v, ok := MetricValue([]byte(exposition), "ctiws_lease_owned", `tenant="bench"`); !ok || v != 1 {
		t.Fatalf("lease_owned bench = %v, %v", v, ok)
	}
	if v, ok := MetricValue([]byte(exposition), "ctiws_lease_owned", `tenant="bench2"`); !ok || v != 0 {
		t.Fatalf("lease_owned bench2 = %v, %v", v, ok)
	}
	if _, ok := MetricValue([]byte(exposition), "ctiws_lease_owned", `tenant="nope"`); ok {
		t.Fatal("absent sample found")
	}
	if v, ok := MetricValue([]byte(exposition), "go_goroutines", ""); !ok || v != 20123 {
		t.Fatalf("go_goroutines = %v, %v", v, ok)
	}
}

func TestSumMetric(t *testing.T) {
	if v := SumMetric([]byte(exposition), "ctiws_slow_consumer_disconnects_total"); v != 5 {
		t.Fatalf("sum = %v", v)
	}
	if v := SumMetric([]byte(exposition), "ctiws_slow_consumer_disconnects_total", `tenant="bench"`); v != 2 {
		t.Fatalf("sum bench = %v", v)
	}
	if v := SumMetric([]byte(exposition), "go_goroutines"); v != 20123 {
		t.Fatalf("go_goroutines = %v (prefix must not match go_goroutines_x)", v)
	}
}
