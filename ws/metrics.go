package ws

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the websocket layer's Prometheus collectors. Label values are
// bounded: tenant ids, event names, reasons, routes and codes — never users,
// sockets or extensions.
type Metrics struct {
	SocketsConnected   *prometheus.GaugeVec
	SocketsLoggedIn    *prometheus.GaugeVec
	Logins             *prometheus.CounterVec
	Disconnects        *prometheus.CounterVec
	BadFrames          *prometheus.CounterVec
	EventsReceived     *prometheus.CounterVec
	EventsDelivered    *prometheus.CounterVec
	Serialisations     *prometheus.CounterVec
	FanoutDuration     prometheus.Histogram
	SlowConsumers      *prometheus.CounterVec
	BusLag             prometheus.Histogram
	Resyncs            *prometheus.CounterVec
	UnchangedSkipped   *prometheus.CounterVec
	RESTRequests       *prometheus.CounterVec
	RESTDuration       *prometheus.HistogramVec
	UnknownHostRejects prometheus.Counter
	// RESTRefused counts REST requests refused for a reason worth
	// watching (permission, bad number, bad status, alarm credential).
	RESTRefused *prometheus.CounterVec
	// Conflated counts state frames that replaced an unsent frame of the
	// same object in a socket's queue.
	Conflated *prometheus.CounterVec
	// LimitRejects counts payloads refused by a Limits field, by limit.
	LimitRejects *prometheus.CounterVec
	// SocketWrites counts output buffers written to websocket connections
	// (one write(2) each unless the peer's buffer is full) and
	// FramesWritten the frames they held: their ratio is the frames per
	// write.
	SocketWrites  prometheus.Counter
	FramesWritten prometheus.Counter
	// WriteHandoffs counts pool writes that found the peer's buffer full
	// and handed the socket to a flusher goroutine of its own.
	WriteHandoffs prometheus.Counter
	// EventToWrite is, once per write(2) to a socket, the time from the
	// publish stamp of the oldest bus event among its frames
	// (cluster.Event.Time, stamped by the owner) to the write: what the
	// path from the owner to a client's kernel adds. Node-wide, like every
	// histogram here: a tenant label would multiply its series by the
	// tenants (docs/operations.md, section 4).
	EventToWrite prometheus.Histogram
	// ClientPingRTT is the Engine.IO ping round trip per socket: from the
	// server queueing a ping to the client's pong read.
	ClientPingRTT prometheus.Histogram
	// Security of logins and tokens (see ws/authenticator.go,
	// ws/rest_auth.go and ws/passwords.go).
	LoginFailures       *prometheus.CounterVec
	LoginLogsSuppressed *prometheus.CounterVec
	LoginThrottled      *prometheus.CounterVec
	LoginFreshTries     *prometheus.CounterVec
	PasswordChecks      *prometheus.CounterVec
	PasswordCheckBusy   *prometheus.CounterVec
	TokensRevoked       *prometheus.CounterVec
	TokensEvicted       *prometheus.CounterVec
	// StalePasswords is how many users' htpasswd hash on this node is one
	// the cluster has replaced (the node's file is older); their password
	// logins are refused here.
	StalePasswords *prometheus.GaugeVec
}

// latencyBuckets are the buckets of the latencies a user notices, from
// 1 ms to 10 s (docs/operations.md, section 4).
func latencyBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		SocketsConnected: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "sockets_connected",
			Help: "Open websocket transports."}, []string{"tenant"}),
		SocketsLoggedIn: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "sockets_logged_in",
			Help: "Sockets that completed login."}, []string{"tenant"}),
		Logins: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "logins_total",
			Help: "Socket logins by result."}, []string{"tenant", "result"}),
		Disconnects: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "disconnects_total",
			Help: "Closed transports by reason."}, []string{"tenant", "reason"}),
		BadFrames: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "bad_frames_total",
			Help: "Client frames refused, by reason."}, []string{"tenant", "reason"}),
		EventsReceived: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "bus_events_received_total",
			Help: "Events received from the bus."}, []string{"tenant", "event"}),
		EventsDelivered: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "events_delivered_total",
			Help: "Event frames queued to sockets."}, []string{"tenant", "event"}),
		Serialisations: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "serialisations_total",
			Help: "Payload serialisations (one per privacy variant, never per socket)."}, []string{"event"}),
		FanoutDuration: f.NewHistogram(prometheus.HistogramOpts{Namespace: "ctiws", Name: "fanout_duration_seconds",
			Help: "Time to route one bus event to every local socket.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14)}),
		SlowConsumers: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "slow_consumer_disconnects_total",
			Help: "Sockets disconnected because their send buffer was full."}, []string{"tenant"}),
		BusLag: f.NewHistogram(prometheus.HistogramOpts{Namespace: "ctiws", Name: "bus_lag_seconds",
			Help: "Publish to receive delay of bus events.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		Resyncs: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "resyncs_total",
			Help: "State resyncs after a bus gap, reconnect or owner change."}, []string{"tenant"}),
		UnchangedSkipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "unchanged_objects_skipped_total",
			Help: "Owner events not routed because the object's JSON was already known (e.g. after an owner change)."}, []string{"tenant"}),
		RESTRequests: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "rest_requests_total",
			Help: "REST requests by route and status code."}, []string{"route", "code"}),
		RESTDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ctiws", Name: "rest_request_duration_seconds",
			Help: "REST request duration.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"}),
		UnknownHostRejects: f.NewCounter(prometheus.CounterOpts{Namespace: "ctiws", Name: "unknown_host_rejects_total",
			Help: "Requests refused because their Host selects no tenant."}),
		RESTRefused: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "rest_refused_total",
			Help: "REST requests refused by validation or authorisation, by reason."}, []string{"tenant", "reason"}),
		Conflated: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "frames_conflated_total",
			Help: "State frames that replaced an unsent frame of the same object in a socket's queue (a slow reader gets only the latest state)."}, []string{"tenant"}),
		SocketWrites: f.NewCounter(prometheus.CounterOpts{Namespace: "ctiws", Name: "socket_writes_total",
			Help: "Output buffers written to websocket connections (one write(2) each unless the peer's buffer is full)."}),
		FramesWritten: f.NewCounter(prometheus.CounterOpts{Namespace: "ctiws", Name: "socket_frames_written_total",
			Help: "Websocket frames in those buffers: frames per write = this / ctiws_socket_writes_total."}),
		WriteHandoffs: f.NewCounter(prometheus.CounterOpts{Namespace: "ctiws", Name: "socket_write_handoffs_total",
			Help: "Non-blocking writes that found the peer's buffer full; the rest went to a goroutine of the socket's own (a slow reader)."}),
		EventToWrite: f.NewHistogram(prometheus.HistogramOpts{Namespace: "ctiws", Name: "event_to_write_seconds",
			Help:    "Bus event publish stamp (the owner's) to the write(2) of a socket's buffer holding its frame; one observation per write, of the oldest event in it.",
			Buckets: latencyBuckets()}),
		ClientPingRTT: f.NewHistogram(prometheus.HistogramOpts{Namespace: "ctiws", Name: "client_ping_rtt_seconds",
			Help: "Engine.IO ping sent (queued) to pong received, per socket.", Buckets: latencyBuckets()}),
		LimitRejects: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "limit_rejects_total",
			Help: "User-to-user payloads refused by a limit (avatar, post-it, message relay), by limit."}, []string{"tenant", "limit"}),
		LoginFailures: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "login_failures_total",
			Help: "Refused logins and authentications (socket, REST password and token), by reason."}, []string{"tenant", "reason"}),
		LoginLogsSuppressed: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "login_failure_logs_suppressed_total",
			Help: "Failed-login log lines held back by the per-tenant log budget."}, []string{"tenant"}),
		LoginThrottled: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "login_throttled_total",
			Help: "Password logins and alarm secrets answered 429, by scope: user or address (back-off), address_share or user_share (checks in flight), alarm (wrong alarm secrets)."}, []string{"tenant", "scope"}),
		LoginFreshTries: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "login_fresh_address_tries_total",
			Help: "Password checks let through a user's lock because the address had not failed for that user (one per lock period)."}, []string{"tenant"}),
		PasswordChecks: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "password_checks_total",
			Help: "bcrypt password checks run (unknown users included)."}, []string{"tenant"}),
		PasswordCheckBusy: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "password_check_queue_full_total",
			Help: "Password logins answered 503 because the tenant's bcrypt queue was full."}, []string{"tenant"}),
		TokensRevoked: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "tokens_revoked_total",
			Help: "Tokens revoked, by reason (logout, password_change)."}, []string{"tenant", "reason"}),
		TokensEvicted: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "persistent_tokens_evicted_total",
			Help: "Persistent tokens evicted because a user had more than max_persistent_tokens."}, []string{"tenant"}),
		StalePasswords: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "htpasswd_stale_users",
			Help: "Users whose password hash in this node's htpasswd file the cluster has replaced (the file is older); their password logins are refused here."}, []string{"tenant"}),
	}
}
