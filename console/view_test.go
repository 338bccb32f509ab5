package console

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics is a registry with the series a status record reads.
func nodeMetrics(owned map[string]bool, amiMessages float64) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	lease := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ctiws_lease_owned"}, []string{"tenant"})
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ctiws_ami_connected"}, []string{"tenant"})
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ctiws_ami_messages_total"}, []string{"tenant", "kind"})
	rss := prometheus.NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes"})
	reg.MustRegister(lease, up, msgs, rss)
	rss.Set(50 << 20)
	for t, o := range owned {
		if o {
			lease.WithLabelValues(t).Set(1)
			up.WithLabelValues(t).Set(1)
			msgs.WithLabelValues(t, "event").Add(amiMessages)
		}
	}
	return reg
}

// TestClusterAndTenantsPages: two nodes' records and the leases in one
// store; either node's console shows both nodes and every tenant, with
// the owner's AMI link and the sockets summed over the nodes.
func TestClusterAndTenantsPages(t *testing.T) {
	backend := memory.New().Cluster()
	ctx := context.Background()
	errAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []string{"n1", "n2"} {
		if err := backend.Sessions.Heartbeat(ctx, n, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := backend.Ownership.Acquire(ctx, "t1", "n2", time.Minute); !ok || err != nil {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	sockets := map[string][]Socket{
		"n1/t1": {{ID: "a", User: "alice"}, {ID: "b", User: "alice"}, {ID: "c", User: "bob"}},
		"n2/t1": {{ID: "d", User: "carol"}},
		"n2/t2": {{ID: "e", User: "dave"}},
	}
	var consoles []*Console
	for _, n := range []struct {
		id      string
		tenants []string
		owned   map[string]bool
	}{{"n1", []string{"t1"}, nil}, {"n2", []string{"t1", "t2"}, map[string]bool{"t1": true}}} {
		c, _ := testConsole(t, func(o *Options) {
			o.Node, o.Backend, o.Store = n.id, backend, "memory"
			o.Tenants = func() []string { return n.tenants }
			o.Sockets = func(tenant string) []Socket { return sockets[n.id+"/"+tenant] }
			o.Gatherer = nodeMetrics(n.owned, 42)
			// Every node knows an error; only the owner's is reported.
			o.LastError = func(tenant string) (string, time.Time) {
				return n.id + " " + tenant + ": ami: login: Authentication failed", errAt
			}
		})
		r := &reporter{c: c, since: map[string]time.Time{}, lastEv: map[string]time.Time{}, wasUp: map[string]bool{}}
		if err := r.report(ctx); err != nil {
			t.Fatal(err)
		}
		consoles = append(consoles, c)
	}
	srv := newServer(t, consoles[0])
	cl := client(t)
	login(t, srv, cl, "admin")
	_, page := get(t, cl, srv.URL+"/console/cluster")
	for _, want := range []string{`data-node="n1"`, `data-node="n2"`, "50.0 MiB", ">t1</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("cluster page lacks %q", want)
		}
	}
	_, page = get(t, cl, srv.URL+"/console/tenants")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<tr data-tenant="(\w+)">(.*?)</tr>`).FindAllStringSubmatch(page, -1) {
		rows[m[1]] = strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[2], " ")), " ")
	}
	cases := []struct{ tenant, want string }{
		{"t1", "t1 n2 1 up since"}, // owner, epoch, AMI link
		{"t1", "4 3"},              // sockets over both nodes, users online
		{"t2", "no report from the owner 1 1 no owner"},
		{"t1", "n2 t1: ami: login: Authentication failed at 03:04:05 UTC"}, // the owner's last AMI error
		{"t1", "n1 Hand over…"},                                            // to the other node serving it
	}
	for _, tc := range cases {
		if !strings.Contains(rows[tc.tenant], tc.want) {
			t.Errorf("tenant %s row %q lacks %q", tc.tenant, rows[tc.tenant], tc.want)
		}
	}
	for _, tc := range []struct{ tenant, not string }{
		{"t1", "n1 t1:"}, {"t2", "Authentication"}, {"t2", "Hand over"},
	} {
		if strings.Contains(rows[tc.tenant], tc.not) {
			t.Errorf("tenant %s row %q has %q", tc.tenant, rows[tc.tenant], tc.not)
		}
	}
}
