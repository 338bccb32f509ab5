package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/redis/go-redis/v9"
)

// FarmSpec is a PBX farm: Tenants simulated PBXs of Extensions extensions
// each, served by Nodes ctiws nodes and one Redis.
type FarmSpec struct {
	Tenants    int
	Extensions int
	Nodes      int
	// ClientsPerTenant sockets are logged in per tenant, spread over the
	// nodes.
	ClientsPerTenant int
	// CallsPerSecond is each simulated PBX's call rate; the Samples first
	// tenants get SampleCallsPerSecond, so their clients see steady events.
	CallsPerSecond       float64
	Samples              int
	SampleCallsPerSecond float64
	// Idle is the settled measurement window.
	Idle time.Duration
}

// FarmResult is the outcome of -scenario farm.
type FarmResult struct {
	Spec FarmSpec `json:"spec"`
	// AllOwnedSec: from the start of the nodes until every tenant is owned
	// by exactly one node; AllPublishingSec: until every owner has
	// published (its snapshot loaded).
	AllOwnedSec      float64 `json:"seconds_until_all_owned"`
	AllPublishingSec float64 `json:"seconds_until_all_publishing"`
	LeasesPerNode    []int   `json:"leases_per_node"`
	// SpreadPct is the largest distance of a node's leases from the mean,
	// in percent of the mean.
	SpreadPct float64 `json:"spread_pct"`
	// Settled RSS per node after a garbage collection, and of a single
	// node serving one tenant (the process's own cost).
	RSSPerNodeKiB  []int64 `json:"rss_per_node_kib"`
	BaselineRSSKiB int64   `json:"baseline_rss_kib"`
	// RSSPerTenantKiB is (node RSS − baseline) / tenants, mean over nodes.
	RSSPerTenantKiB float64 `json:"rss_per_tenant_kib"`
	// OwnerExtraKiB is what owning a tenant adds (from the survivors' RSS
	// growth after the kill); NonOwnerPerTenantKiB what a tenant costs a
	// node that does not own it.
	OwnerExtraKiB        float64 `json:"owner_extra_kib"`
	NonOwnerPerTenantKiB float64 `json:"non_owner_per_tenant_kib"`
	SeriesPerNode        []int   `json:"metrics_series_per_node"`
	TenantSeriesPerNode  []int   `json:"tenant_series_per_node"`
	SeriesPerTenant      float64 `json:"tenant_series_per_tenant_per_node"`
	NodeCPUCoresIdle     float64 `json:"node_cpu_cores_idle"`
	RedisUsedMiB         float64 `json:"redis_used_mib"`
	RedisOpsPerSecIdle   float64 `json:"redis_ops_per_s_idle"`
	RedisCPUCoresIdle    float64 `json:"redis_cpu_cores_idle"`
	// RedisOpsPerSecCalls is Redis's command rate in the window before,
	// with the PBXs' calls (the idle figures are measured with every PBX
	// quiet).
	RedisOpsPerSecCalls float64 `json:"redis_ops_per_s_calls"`
	// Per idle tenant: Redis commands per second (the exact delta of
	// total_commands_processed over the idle window, over the tenants)
	// and node CPU in millicores (every node's, over the tenants).
	RedisOpsPerTenantIdle float64 `json:"redis_ops_per_s_per_tenant_idle"`
	NodeMilliCPUPerTenant float64 `json:"node_millicores_per_tenant_idle"`
	// RedisTopCommandsIdle are the idle window's most called commands,
	// per second (INFO commandstats deltas, scripts' inner calls included).
	RedisTopCommandsIdle []CommandRate `json:"redis_top_commands_idle"`
	Clients              int           `json:"clients"`
	ClientsFailed        int           `json:"clients_failed"`
	// Sample clients with at least one event in the settled window, and
	// in the window after the kill (clients on surviving nodes only).
	SampleClients      int `json:"sample_clients"`
	SampleWithEvents   int `json:"sample_clients_with_events"`
	SampleAfterKill    int `json:"sample_clients_after_kill"`
	SampleAfterKillGot int `json:"sample_clients_after_kill_with_events"`
	// AddedServingSec: from writing the configs and SIGHUP until every
	// node answers a logged-in REST request of a new tenant;
	// AddedListedSec: until every node lists its PBX's extensions.
	AddedServingSec float64 `json:"added_tenant_serving_seconds"`
	AddedListedSec  float64 `json:"added_tenant_listed_seconds"`
	KilledNode      string  `json:"killed_node"`
	KilledLeases    int     `json:"killed_leases"`
	// TakeoverOwnedSec: from SIGKILL until every tenant of the killed
	// node is owned again; TakeoverPublishSec: until the last of them
	// published again.
	TakeoverOwnedSec   float64 `json:"takeover_owned_seconds"`
	TakeoverPublishSec float64 `json:"takeover_publish_seconds"`
	// TakeoverPublishMedianSec: until half of them published again.
	TakeoverPublishMedianSec float64 `json:"takeover_publish_median_seconds"`
	LeasesAfterKill          []int   `json:"leases_per_node_after_kill"`
	Load1AtEnd               string  `json:"load1_at_end"`
}

// farmCallsWindow is the settled window with calls (sample clients'
// events, Redis commands), before the quiet idle window.
const farmCallsWindow = 10 * time.Second

// farmTenant is one tenant of the farm and its simulated PBX.
type farmTenant struct {
	id       string
	sim      *sim.Server
	addr     string
	user     string
	secret   string
	lastSeen atomic.Int64
}

func farmTenantID(i int) string { return fmt.Sprintf("f%04d", i) }

// farm runs the farm scenario.
func (b *runner) farm(ctx context.Context, name string, fs FarmSpec) Result {
	res := Result{Name: name}
	fr := &FarmResult{Spec: fs}
	res.Farm = fr
	if err := b.runFarm(ctx, fs, fr); err != nil {
		res.Error = err.Error()
	}
	fr.Load1AtEnd = machine().Load1
	return res
}

func (b *runner) runFarm(ctx context.Context, fs FarmSpec, fr *FarmResult) error {
	dir, err := os.MkdirTemp("", "ctiws-farm-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	c := &Cluster{spec: ClusterSpec{Binary: b.o.Binary, RedisServer: b.o.RedisServer, Keep: b.o.Keep, Nodes: fs.Nodes, LogDir: b.o.LogDir},
		log: b.log, dir: dir, hc: &http.Client{Timeout: 10 * time.Second}, jwtSecret: []byte(randomHex(16))}
	defer c.Stop()
	users, err := UsersJSON(fs.Extensions)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.json"), users, 0o600); err != nil {
		return fmt.Errorf("write users.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "profiles.json"), ProfilesJSON(), 0o600); err != nil {
		return fmt.Errorf("write profiles.json: %w", err)
	}
	// One simulator process (this one) serves every tenant, each on its
	// own port.
	tenants := make([]*farmTenant, fs.Tenants)
	for i := range tenants {
		sc := SimConfig(fs.Extensions, 0)
		sc.StartPaused = false
		sc.CallsPerSecond = fs.CallsPerSecond
		if i < fs.Samples {
			sc.CallsPerSecond = fs.SampleCallsPerSecond
		}
		sc.Seed = int64(i + 1)
		s := sim.New(sc, b.log.With("tenant", farmTenantID(i)))
		addr, err := s.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("start simulated PBX %d: %w", i, err)
		}
		defer s.Close()
		tenants[i] = &farmTenant{id: farmTenantID(i), sim: s, addr: addr.String(), user: sc.Username, secret: sc.Secret}
	}
	b.log.Info("simulated PBXs listening", "tenants", fs.Tenants, "extensions", fs.Extensions)

	// Baseline: one node, one tenant, no Redis.
	base, err := b.farmBaseline(ctx, c, tenants[0])
	if err != nil {
		return err
	}
	fr.BaselineRSSKiB = base

	if err := c.startRedis(ctx); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(c.redisURL, "redis://"), "/0")})
	defer rdb.Close()

	// Cold start of every node at once.
	start := time.Now()
	for i := range fs.Nodes {
		if err := c.launchFarmNode(fmt.Sprintf("farm-node-%d", i+1), c.redisURL, tenants); err != nil {
			return err
		}
	}
	deadline := start.Add(5 * time.Minute)
	for fr.AllPublishingSec == 0 {
		st := c.farmState(ctx, tenants)
		if fr.AllOwnedSec == 0 && st.ownedOnce == len(tenants) {
			fr.AllOwnedSec = time.Since(start).Seconds()
			b.log.Info("every tenant owned", "seconds", fr.AllOwnedSec)
		}
		if fr.AllOwnedSec > 0 && st.publishing == len(tenants) {
			fr.AllPublishingSec = time.Since(start).Seconds()
			b.log.Info("every tenant publishing", "seconds", fr.AllPublishingSec)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d of %d tenants owned once, %d publishing; leases per node %v",
				time.Since(start).Round(time.Second), st.ownedOnce, len(tenants), st.publishing, st.leases)
		}
		for _, n := range c.Nodes {
			if !n.Alive() {
				return fmt.Errorf("node %s exited: %s", n.ID, tail(n.logPath, 5))
			}
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}

	// Clients: ClientsPerTenant per tenant, spread over the nodes.
	conns, counts, failed := b.farmClients(ctx, c, tenants, fs)
	defer func() {
		for _, cl := range conns {
			cl.Close()
		}
	}()
	fr.Clients, fr.ClientsFailed = len(conns), failed
	sampleIdx := func() []int {
		var out []int
		for i, k := range counts {
			if k.tenant < fs.Samples && k.conn != nil {
				out = append(out, i)
			}
		}
		return out
	}()
	fr.SampleClients = len(sampleIdx)

	// Settle (leases handed back to spread them), then the idle window.
	if err := sleepCtx(ctx, 15*time.Second); err != nil {
		return err
	}
	st := c.farmState(ctx, tenants)
	fr.LeasesPerNode = st.leases
	fr.SpreadPct = spreadPct(st.leases)
	// The window with calls: the sample clients' events, Redis commands.
	evBefore := snapshotEvents(counts)
	opsBefore := redisCommands(ctx, rdb)
	t0 := time.Now()
	if err := sleepCtx(ctx, farmCallsWindow); err != nil {
		return err
	}
	fr.RedisOpsPerSecCalls = float64(redisCommands(ctx, rdb)-opsBefore) / time.Since(t0).Seconds()
	fr.SampleWithEvents = withEvents(counts, sampleIdx, evBefore)
	// The idle window: every PBX quiet (nothing happening), so what is
	// left is the farm's own periodic cost.
	for _, t := range tenants {
		t.sim.SetPaused(true)
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	before := c.Sample()
	redisBefore, _ := ReadProc(c.redis.Process.Pid)
	opsBefore = redisCommands(ctx, rdb)
	statsBefore := redisCommandStats(ctx, rdb)
	t0 = time.Now()
	var profErr chan error
	if b.o.ProfileDir != "" {
		// The first node's CPU during the idle window (-pprof).
		profErr = make(chan error, 1)
		go func() {
			profErr <- c.Profile(ctx, 0, fs.Idle-time.Second, filepath.Join(b.o.ProfileDir, "farm-idle-cpu.pprof"))
		}()
	}
	if err := sleepCtx(ctx, fs.Idle); err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	if profErr != nil {
		if err := <-profErr; err != nil {
			b.log.Warn("idle CPU profile", "err", err)
		}
	}
	after := c.Sample()
	redisAfter, _ := ReadProc(c.redis.Process.Pid)
	fr.RedisOpsPerSecIdle = float64(redisCommands(ctx, rdb)-opsBefore) / secs
	fr.RedisTopCommandsIdle = topCommandRates(statsBefore, redisCommandStats(ctx, rdb), secs, 12)
	fr.RedisCPUCoresIdle = (redisAfter.CPU - redisBefore.CPU).Seconds() / secs
	var cpu time.Duration
	for i := range after {
		cpu += after[i].CPU - before[i].CPU
	}
	fr.NodeCPUCoresIdle = cpu.Seconds() / secs / float64(fs.Nodes)
	fr.RedisOpsPerTenantIdle = fr.RedisOpsPerSecIdle / float64(fs.Tenants)
	fr.NodeMilliCPUPerTenant = 1000 * cpu.Seconds() / secs / float64(fs.Tenants)
	for _, t := range tenants {
		t.sim.SetPaused(false)
	}
	fr.RedisUsedMiB = redisUsedMiB(ctx, rdb)

	// Settled memory and series.
	rss := c.farmRSS(ctx)
	fr.RSSPerNodeKiB = rss
	var sum float64
	for _, r := range rss {
		sum += float64(r - base)
	}
	fr.RSSPerTenantKiB = sum / float64(len(rss)) / float64(fs.Tenants)
	for _, n := range c.Nodes {
		all, tenant := c.seriesCount(ctx, n)
		fr.SeriesPerNode = append(fr.SeriesPerNode, all)
		fr.TenantSeriesPerNode = append(fr.TenantSeriesPerNode, tenant)
		fr.SeriesPerTenant = max(fr.SeriesPerTenant, float64(tenant)/float64(fs.Tenants))
	}

	// A tenant added live (SIGHUP) to every node.
	sc := SimConfig(fs.Extensions, 0)
	sc.StartPaused = false
	added := sim.New(sc, b.log.With("tenant", farmTenantID(fs.Tenants)))
	addr, err := added.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the added tenant's PBX: %w", err)
	}
	defer added.Close()
	nt := &farmTenant{id: farmTenantID(fs.Tenants), sim: added, addr: addr.String(), user: sc.Username, secret: sc.Secret}
	serving, listed, err := c.farmAddTenant(ctx, tenants, nt, fs.Extensions)
	if err != nil {
		return err
	}
	fr.AddedServingSec, fr.AddedListedSec = serving.Seconds(), listed.Seconds()
	b.log.Info("tenant added by SIGHUP", "serving_seconds", fr.AddedServingSec, "listed_seconds", fr.AddedListedSec)
	tenants = append(tenants, nt)

	// SIGKILL of the busiest node.
	st = c.farmState(ctx, tenants)
	busiest := 0
	for i, k := range st.leases {
		if k > st.leases[busiest] {
			busiest = i
		}
	}
	victims := map[string]bool{}
	for id, n := range st.owner {
		if n == busiest {
			victims[id] = true
		}
	}
	fr.KilledNode, fr.KilledLeases = c.Nodes[busiest].ID, len(victims)
	pubsBefore := st.pubs
	b.log.Info("killing the busiest node", "node", fr.KilledNode, "leases", len(victims))
	killAt := time.Now()
	if err := c.Kill(busiest); err != nil {
		return err
	}
	evKill := snapshotEvents(counts)
	firstPub := map[string]float64{}
	for fr.TakeoverPublishSec == 0 {
		st := c.farmState(ctx, tenants)
		owned, pub := 0, 0
		for id := range victims {
			n, ok := st.owner[id]
			if !ok || n == busiest {
				continue
			}
			owned++
			// Published again: the new owner's counter for the tenant
			// grew past what it was before the kill.
			if st.published[id] > pubsBefore[n][id] {
				pub++
				if _, ok := firstPub[id]; !ok {
					firstPub[id] = time.Since(killAt).Seconds()
				}
			}
		}
		if fr.TakeoverOwnedSec == 0 && owned == len(victims) {
			fr.TakeoverOwnedSec = time.Since(killAt).Seconds()
		}
		if pub == len(victims) {
			fr.TakeoverPublishSec = time.Since(killAt).Seconds()
		}
		if time.Since(killAt) > 2*time.Minute {
			return fmt.Errorf("2 minutes after the kill: %d of %d tenants owned again, %d publishing", owned, len(victims), pub)
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	var times []float64
	for _, v := range firstPub {
		times = append(times, v)
	}
	sort.Float64s(times)
	fr.TakeoverPublishMedianSec = times[len(times)/2]
	b.log.Info("killed node's tenants publishing again", "seconds", fr.TakeoverPublishSec)
	if err := sleepCtx(ctx, 10*time.Second); err != nil {
		return err
	}
	var survivors []int
	for _, i := range sampleIdx {
		if counts[i].node != busiest {
			survivors = append(survivors, i)
		}
	}
	fr.SampleAfterKill = len(survivors)
	fr.SampleAfterKillGot = withEvents(counts, survivors, evKill)
	st = c.farmState(ctx, tenants)
	fr.LeasesAfterKill = st.leases
	// What owning adds: the survivors' RSS growth per lease taken over.
	rss2 := c.farmRSS(ctx)
	var grow, taken float64
	for i := range rss2 {
		if i == busiest {
			continue
		}
		grow += float64(rss2[i] - rss[i])
		taken += float64(st.leases[i] - fr.LeasesPerNode[i])
	}
	if taken > 0 {
		fr.OwnerExtraKiB = grow / taken
		owned := float64(fs.Tenants) / float64(fs.Nodes)
		fr.NonOwnerPerTenantKiB = fr.RSSPerTenantKiB - fr.OwnerExtraKiB*owned/float64(fs.Tenants)
	}
	return nil
}

// farmBaseline returns the settled RSS of a node serving one tenant alone.
func (b *runner) farmBaseline(ctx context.Context, c *Cluster, t *farmTenant) (int64, error) {
	if err := c.launchFarmNode("farm-baseline", "", []*farmTenant{t}); err != nil {
		return 0, err
	}
	n := c.Nodes[0]
	deadline := time.Now().Add(time.Minute)
	for {
		body, err := fetch(ctx, c.hc, n.MetricsURL+"/metrics")
		if v, ok := MetricValue(body, "ctiws_owner_events_published_total", `tenant="`+t.id+`"`); err == nil && ok && v > 0 {
			break
		}
		if time.Now().After(deadline) || !n.Alive() {
			return 0, fmt.Errorf("baseline node did not publish within a minute: %s", tail(n.logPath, 5))
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return 0, err
	}
	rss := c.farmRSS(ctx)
	if err := c.Kill(0); err != nil {
		return 0, err
	}
	c.Nodes = nil
	return rss[0], nil
}

// launchFarmNode starts a node serving tenants (redisURL "" = alone).
func (c *Cluster) launchFarmNode(id, redisURL string, tenants []*farmTenant) error {
	listen, metrics, err := nodeAddrs()
	if err != nil {
		return err
	}
	return c.launch(id, c.farmYAML(id, listen, metrics, redisURL, tenants), listen, metrics)
}

// farmYAML is a farm node's configuration.
func (c *Cluster) farmYAML(id, listen, metrics, redisURL string, tenants []*farmTenant) []byte {
	var y strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&y, "# Generated by ctiws bench -scenario farm.\nnode_id: %s\nlisten: %s\nmetrics_listen: %s\nredis_url: %s\nlog_level: warn\ndrain_timeout: 2s\npprof: true\n",
		q(id), q(listen), q(metrics), q(redisURL))
	if c.spec.LeaseTTL > 0 {
		fmt.Fprintf(&y, "lease_ttl: %s\n", c.spec.LeaseTTL)
	}
	y.WriteString("tenants:\n")
	for _, t := range tenants {
		fmt.Fprintf(&y, "  - id: %s\n    hosts: [%s.farm]\n    ami: {address: %s, username: %s, secret: %s}\n", t.id, t.id, q(t.addr), q(t.user), q(t.secret))
		fmt.Fprintf(&y, "    auth: {enabled: true, jwt_secret: %s}\n    users_file: users.json\n    profiles_file: profiles.json\n", q(string(c.farmSecret(t.id))))
	}
	return []byte(y.String())
}

// farmAddTenant adds tenant t to every live node's configuration, sends
// SIGHUP and returns how long until every node answered a logged-in REST
// request for it, and until every node listed its PBX's extensions.
func (c *Cluster) farmAddTenant(ctx context.Context, tenants []*farmTenant, t *farmTenant, exts int) (serving, listed time.Duration, err error) {
	all := append(append([]*farmTenant(nil), tenants...), t)
	start := time.Now()
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		listen, metrics := strings.TrimPrefix(n.URL, "http://"), strings.TrimPrefix(n.MetricsURL, "http://")
		if err := os.WriteFile(filepath.Join(c.dir, n.ID+".yaml"), c.farmYAML(n.ID, listen, metrics, c.redisURL, all), 0o600); err != nil {
			return 0, 0, fmt.Errorf("rewrite %s's config: %w", n.ID, err)
		}
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			return 0, 0, fmt.Errorf("SIGHUP %s: %w", n.ID, err)
		}
	}
	tok, err := auth.SignJWT(UserName(0), t.id, c.farmSecret(t.id), time.Hour, time.Now())
	if err != nil {
		return 0, 0, err
	}
	for serving == 0 || listed == 0 {
		ok, full := 0, 0
		for _, n := range c.Nodes {
			if !n.Alive() {
				ok++
				full++
				continue
			}
			code, got := c.farmExtensions(ctx, n, t.id, tok)
			if code == http.StatusOK {
				ok++
			}
			if got >= exts {
				full++
			}
		}
		if serving == 0 && ok == len(c.Nodes) {
			serving = time.Since(start)
		}
		if listed == 0 && full == len(c.Nodes) {
			listed = time.Since(start)
		}
		if time.Since(start) > time.Minute {
			return serving, listed, fmt.Errorf("tenant %s added by SIGHUP: %d of %d nodes serving, %d listing its extensions after a minute", t.id, ok, len(c.Nodes), full)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return serving, listed, err
		}
	}
	return serving, listed, nil
}

// farmExtensions GETs a tenant's extensions from node n: the HTTP status
// and how many it listed.
func (c *Cluster) farmExtensions(ctx context.Context, n *Node, tenant, token string) (int, int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/webrest/astproxy/extensions", nil)
	if err != nil {
		return 0, 0
	}
	req.Host = tenant + ".farm"
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		return resp.StatusCode, 0
	}
	return resp.StatusCode, len(m)
}

// farmSecret is a tenant's jwt_secret: every tenant has its own (ctiws
// refuses one secret for two tenants).
func (c *Cluster) farmSecret(tenant string) []byte {
	return []byte(string(c.jwtSecret) + "-" + tenant)
}

// farmState is one look at every live node's leases.
type farmState struct {
	leases     []int                // per node index (dead nodes 0)
	owner      map[string]int       // tenant → node index (owned exactly once)
	published  map[string]float64   // by the tenant's current owner
	pubs       []map[string]float64 // per node index: published by tenant
	ownedOnce  int
	publishing int // owned once and published by that owner
}

func (c *Cluster) farmState(ctx context.Context, tenants []*farmTenant) farmState {
	st := farmState{leases: make([]int, len(c.Nodes)), owner: map[string]int{}, published: map[string]float64{}}
	holders := map[string]int{}
	pubs := make([]map[string]float64, len(c.Nodes))
	st.pubs = pubs
	for i, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		body, err := fetch(ctx, c.hc, n.MetricsURL+"/metrics")
		if err != nil {
			continue
		}
		owned, pub := parseFarmMetrics(body)
		pubs[i] = pub
		for id := range owned {
			holders[id]++
			st.owner[id] = i
			st.leases[i]++
		}
	}
	for _, t := range tenants {
		if holders[t.id] != 1 {
			delete(st.owner, t.id)
			continue
		}
		st.ownedOnce++
		i := st.owner[t.id]
		st.published[t.id] = pubs[i][t.id]
		if pubs[i][t.id] > 0 {
			st.publishing++
		}
	}
	return st
}

// parseFarmMetrics returns the tenants whose lease_owned is 1 and the
// published event counters by tenant.
func parseFarmMetrics(body []byte) (map[string]bool, map[string]float64) {
	owned, pub := map[string]bool{}, map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `ctiws_lease_owned{tenant="`); ok {
			if id, v, ok := strings.Cut(rest, `"} `); ok && v == "1" {
				owned[id] = true
			}
		} else if rest, ok := strings.CutPrefix(line, `ctiws_owner_events_published_total{tenant="`); ok {
			if id, v, ok := strings.Cut(rest, `"} `); ok {
				f, _ := strconv.ParseFloat(v, 64)
				pub[id] = f
			}
		}
	}
	return owned, pub
}

// farmRSS collects garbage in every live node and returns their RSS (KiB).
func (c *Cluster) farmRSS(ctx context.Context) []int64 {
	out := make([]int64, len(c.Nodes))
	for i, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		_ = c.CollectGarbage(ctx, i)
		if s, err := ReadProc(n.Pid()); err == nil {
			out[i] = s.RSS / 1024
		}
	}
	return out
}

// seriesCount returns the number of /metrics series of n and how many of
// them carry a tenant label.
func (c *Cluster) seriesCount(ctx context.Context, n *Node) (all, tenant int) {
	body, err := fetch(ctx, c.hc, n.MetricsURL+"/metrics")
	if err != nil {
		return 0, 0
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		all++
		if bytes.Contains(line, []byte(`tenant="`)) {
			tenant++
		}
	}
	return all, tenant
}

// farmClient is one logged-in socket of the farm.
type farmClient struct {
	tenant, node int
	conn         *client.Conn
	events       atomic.Int64
}

func (b *runner) farmClients(ctx context.Context, c *Cluster, tenants []*farmTenant, fs FarmSpec) ([]*client.Conn, []*farmClient, int) {
	var all []*farmClient
	for ti := range tenants {
		for k := range fs.ClientsPerTenant {
			all = append(all, &farmClient{tenant: ti, node: (ti + k) % len(c.Nodes)})
		}
	}
	var mu sync.Mutex
	var conns []*client.Conn
	failed := 0
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, fc := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			user := UserName(i % fs.Extensions)
			id := tenants[fc.tenant].id
			tok, err := auth.SignJWT(user, id, c.farmSecret(id), 24*time.Hour, time.Now())
			if err != nil {
				return
			}
			hdr := http.Header{}
			hdr.Set("Host", tenants[fc.tenant].id+".farm")
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			conn, err := client.Dial(dctx, client.Options{URL: c.Nodes[fc.node].URL, User: user, Token: tok, UAType: "desktop", Header: hdr,
				OnEvent: func(string, []json.RawMessage, time.Time) { fc.events.Add(1) }})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if failed <= 3 {
					b.log.Warn("farm client failed to log in", "tenant", tenants[fc.tenant].id, "err", err)
				}
				return
			}
			fc.conn = conn
			conns = append(conns, conn)
		}()
	}
	wg.Wait()
	b.log.Info("farm clients logged in", "ok", len(conns), "failed", failed)
	return conns, all, failed
}

func snapshotEvents(cs []*farmClient) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.events.Load()
	}
	return out
}

// withEvents counts the clients of idx that got events since before.
func withEvents(cs []*farmClient, idx []int, before []int64) int {
	n := 0
	for _, i := range idx {
		if cs[i].events.Load() > before[i] {
			n++
		}
	}
	return n
}

// spreadPct is the largest distance of a value from the mean, in percent
// of the mean (nodes holding nothing count).
func spreadPct(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	mean := sum / float64(len(v))
	if mean == 0 {
		return 0
	}
	worst := 0.0
	for _, x := range v {
		worst = max(worst, abs(float64(x)-mean)/mean*100)
	}
	return worst
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// redisCommands is Redis's total_commands_processed (0 on error).
func redisCommands(ctx context.Context, rdb *redis.Client) int64 {
	v, _ := strconv.ParseInt(redisInfo(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
	return v
}

// CommandRate is one Redis command's calls per second.
type CommandRate struct {
	Command string  `json:"command"`
	PerSec  float64 `json:"per_s"`
}

// redisCommandStats returns the calls per command (INFO commandstats).
func redisCommandStats(ctx context.Context, rdb *redis.Client) map[string]int64 {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		if v, err := strconv.ParseInt(calls, 10, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// topCommandRates returns the n commands called most between two
// commandstats readings secs apart, per second, most called first.
func topCommandRates(before, after map[string]int64, secs float64, n int) []CommandRate {
	var out []CommandRate
	for name, v := range after {
		if d := v - before[name]; d > 0 {
			out = append(out, CommandRate{Command: name, PerSec: float64(d) / secs})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PerSec > out[j].PerSec })
	return out[:min(n, len(out))]
}

// redisUsedMiB is Redis's used_memory in MiB (0 on error).
func redisUsedMiB(ctx context.Context, rdb *redis.Client) float64 {
	v, _ := strconv.ParseFloat(redisInfo(ctx, rdb, "memory", "used_memory"), 64)
	return v / (1 << 20)
}

func redisInfo(ctx context.Context, rdb *redis.Client, section, field string) string {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// sortedCopy returns v sorted (for min/max in the report).
func sortedCopy(v []int) []int {
	out := append([]int(nil), v...)
	sort.Ints(out)
	return out
}

// WriteText writes the farm result as labelled lines.
func (f *FarmResult) WriteText(w io.Writer) {
	s := f.Spec
	l := sortedCopy(f.LeasesPerNode)
	lmin, lmax := 0, 0
	if len(l) > 0 {
		lmin, lmax = l[0], l[len(l)-1]
	}
	fmt.Fprintf(w, "farm: %d tenants × %d extensions on %d nodes + Redis; %d clients per tenant (%d logged in, %d failed); calls %g/s per PBX (%d sample tenants at %g/s)\n",
		s.Tenants, s.Extensions, s.Nodes, s.ClientsPerTenant, f.Clients, f.ClientsFailed, s.CallsPerSecond, s.Samples, s.SampleCallsPerSecond)
	fmt.Fprintf(w, "  cold start: every tenant owned after %.1f s, every owner publishing after %.1f s\n", f.AllOwnedSec, f.AllPublishingSec)
	fmt.Fprintf(w, "  leases per node %v: min %d, max %d, largest distance from the mean %.1f %%\n", f.LeasesPerNode, lmin, lmax, f.SpreadPct)
	fmt.Fprintf(w, "  settled RSS per node KiB %v; baseline (1 tenant, alone) %d KiB; per tenant %.0f KiB; owning adds %.0f KiB; per idle tenant on a non-owner ≈ %.0f KiB\n",
		f.RSSPerNodeKiB, f.BaselineRSSKiB, f.RSSPerTenantKiB, f.OwnerExtraKiB, f.NonOwnerPerTenantKiB)
	fmt.Fprintf(w, "  /metrics series per node %v, with a tenant label %v: %.1f per tenant per node\n", f.SeriesPerNode, f.TenantSeriesPerNode, f.SeriesPerTenant)
	fmt.Fprintf(w, "  idle (every PBX quiet): node CPU %.3f cores each, Redis %.1f MiB, %.0f commands/s, %.3f cores; with the calls before: %.0f commands/s\n",
		f.NodeCPUCoresIdle, f.RedisUsedMiB, f.RedisOpsPerSecIdle, f.RedisCPUCoresIdle, f.RedisOpsPerSecCalls)
	fmt.Fprintf(w, "  idle per tenant: Redis %.2f commands/s, node CPU %.3f millicores (all nodes), RSS per node %.0f KiB\n",
		f.RedisOpsPerTenantIdle, f.NodeMilliCPUPerTenant, f.RSSPerTenantKiB)
	if len(f.RedisTopCommandsIdle) > 0 {
		var parts []string
		for _, c := range f.RedisTopCommandsIdle {
			parts = append(parts, fmt.Sprintf("%s %.0f", c.Command, c.PerSec))
		}
		fmt.Fprintf(w, "  idle Redis commands/s by command: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  sample clients with events: settled %d/%d, after the kill %d/%d (on surviving nodes)\n", f.SampleWithEvents, f.SampleClients, f.SampleAfterKillGot, f.SampleAfterKill)
	fmt.Fprintf(w, "  tenant added to every node's list + SIGHUP: serving logins on every node after %.2f s, its extensions listed after %.2f s\n", f.AddedServingSec, f.AddedListedSec)
	fmt.Fprintf(w, "  SIGKILL of %s (%d leases): all owned again after %.2f s, half publishing after %.2f s, the last one after %.2f s; leases then %v\n",
		f.KilledNode, f.KilledLeases, f.TakeoverOwnedSec, f.TakeoverPublishMedianSec, f.TakeoverPublishSec, f.LeasesAfterKill)
	fmt.Fprintf(w, "  load average (1 min) at the end: %s\n", f.Load1AtEnd)
}
