package ws

import (
	"encoding/json"
	"errors"
	"github.com/ctiws/ctiws/internal/backoff"
	"github.com/ctiws/ctiws/internal/lograte"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
)

// maxBody bounds every REST request body.
const maxBody = 1 << 20

// apiError is the JSON body of every REST error.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Code: status, Message: msg})
}

// statusRecorder captures the status code for metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (websocket
// hijacking).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// request is what an authenticated REST handler gets.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	tenant *Tenant
	cfg    *TenantConfig
	user   *directory.User
}

// restDeps is what the REST API needs from the node. It is handed over
// when the API is built, so the API never reaches into the Server.
type restDeps struct {
	nodeID string
	// tenant selects the tenant of a request by its Host header (nil: an
	// unknown host).
	tenant   func(host string) *Tenant
	tokens   cluster.Tokens
	bus      cluster.Bus
	commands cluster.Commands
	// auth checks tokens and JWTs; the socket login shares it.
	auth    *authenticator
	log     *slog.Logger
	metrics *Metrics
	panics  *guard.Panics
	badLog  *lograte.Limiter
	// tokenTTL, maxPersistentTokens, jwtMaxLifetime, loginLimits,
	// trustedProxies, bcryptConcurrency, bcryptQueue, bcryptPerAddress,
	// bcryptPerUser, limits and commandWait are the Options fields of the
	// same names.
	tokenTTL            time.Duration
	maxPersistentTokens int
	jwtMaxLifetime      time.Duration
	loginLimits         LoginLimits
	trustedProxies      []netip.Prefix
	bcryptConcurrency   int
	bcryptQueue         int
	bcryptPerAddress    int
	bcryptPerUser       int
	limits              Limits
	commandWait         time.Duration
	// users bounds what each user sends to others per node, shared with
	// the sockets (userLimiter).
	users *userLimiter
	// hook, when set, runs before each REST handler (in-package tests).
	hook func(tenant, route string)
	// passwordStale is Options.PasswordStale (nil: none).
	passwordStale func(tenant string)
}

// restAPI is the REST API of every tenant of the node: NethCTI's /webrest
// routes (logins, PBX object snapshots, user settings, call control) and
// nethcti-middleware's /api form of them ("API mode", rest_apimode.go).
// Its handlers are methods of restAPI, in the rest_*.go files by route
// family.
type restAPI struct {
	restDeps
	mux      *http.ServeMux
	bcrypt   *fairPool      // bounds concurrent password checks, fair between tenants
	failures *backoff.Table // password-login back-off, per user and address
	inflight *inflight      // password checks in flight, per address and user
}

// newRESTAPI builds the REST API and registers its routes on mux, which
// serves the socket paths beside them.
func newRESTAPI(d restDeps, mux *http.ServeMux) *restAPI {
	a := &restAPI{
		restDeps: d,
		mux:      mux,
		bcrypt:   newFairPool(d.bcryptConcurrency, d.bcryptQueue),
		failures: backoff.New(d.loginLimits.Base, d.loginLimits.Max),
		inflight: newInflight(),
	}
	a.routes()
	return a
}

// routes registers every REST route.
func (a *restAPI) routes() {
	a.handle("POST /webrest/authentication/login", "auth_login", a.restLogin)
	a.handle("POST /webrest/authentication/logout", "auth_logout", a.restLogout)
	a.authed("GET /webrest/astproxy/extensions", "extensions", a.restExtensions)
	a.authed("GET /webrest/astproxy/extension/{id}", "extension", a.restExtension)
	a.authed("GET /webrest/astproxy/queues", "queues", a.restQueues)
	a.authed("GET /webrest/astproxy/trunks", "trunks", a.restTrunks)
	a.authed("GET /webrest/astproxy/parkings", "parkings", a.restParkings)
	a.authed("GET /webrest/astproxy/confbridges", "confbridges", a.restConfbridges)
	a.authed("GET /webrest/user/me", "user_me", a.restMe)
	a.userRoutes()
	a.authed("GET /webrest/user/presence", "user_presence_get", a.restPresenceGet)
	a.authed("POST /webrest/user/presence", "user_presence_set", a.restPresenceSet)
	a.authed("POST /webrest/user/profile/avatar", "user_avatar", a.restAvatar)
	a.authed("POST /webrest/user/default_device", "user_default_device", a.restDefaultDevice)
	a.authed("POST /webrest/postit/create", "postit_create", a.restPostit)
	a.authed("POST /webrest/streaming/subscribe", "streaming_subscribe", a.restStreaming(true))
	a.authed("POST /webrest/streaming/unsubscribe", "streaming_unsubscribe", a.restStreaming(false))
	a.authed("POST /webrest/astproxy/call", "call", a.restCall)
	a.authed("POST /webrest/astproxy/answer_webrtc", "answer_webrtc", a.restAnswerWebrtc)
	a.astproxyRoutes()
	a.handle("POST /webrest/alarm", "alarm", a.restAlarm)
	a.apiRoutes()
	a.mux.HandleFunc("/webrest/", func(w http.ResponseWriter, r *http.Request) {
		a.metrics.RESTRequests.WithLabelValues("unknown", "404").Inc()
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
}

// handle registers a route with tenant selection and metrics.
func (a *restAPI) handle(pattern, route string, fn func(http.ResponseWriter, *http.Request, *Tenant)) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		defer func() {
			a.metrics.RESTRequests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			a.metrics.RESTDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		t := a.tenant(r.Host)
		if t == nil {
			a.metrics.UnknownHostRejects.Inc()
			writeError(rec, http.StatusNotFound, "unknown host")
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, maxBody)
		defer a.panics.Recover(guard.REST, t.ID, func(error) {
			writeError(rec, http.StatusInternalServerError, "internal error")
		})
		if h := a.hook; h != nil {
			h(t.ID, route)
		}
		fn(rec, r, t)
	})
}

// authed registers a route that needs `Authorization: user:token` or a JWT.
func (a *restAPI) authed(pattern, route string, fn func(*request)) {
	a.handle(pattern, route, func(w http.ResponseWriter, r *http.Request, t *Tenant) {
		user, err := a.restAuth(r, t)
		if err != nil {
			if !refused(err) {
				// The token store failed: not the client's fault.
				a.log.Warn("REST authentication failed: token store unavailable", "tenant", t.ID, "err", err)
				writeError(w, http.StatusServiceUnavailable, "token store unavailable")
				return
			}
			a.auth.loginFailed(t, "REST authentication", restUser(r), err, "route", route)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		fn(&request{w: w, r: r, tenant: t, cfg: t.Config(), user: user})
	})
}

// restAuth authenticates a REST request.
func (a *restAPI) restAuth(r *http.Request, t *Tenant) (*directory.User, error) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		u, _, err := a.auth.verifyJWT(r.Context(), t, strings.TrimSpace(tok))
		return u, err
	}
	name, token, ok := strings.Cut(h, ":")
	if !ok || name == "" || token == "" {
		return nil, errNoCreds
	}
	user, _, err := a.auth.authenticate(r.Context(), t, name, token)
	if err != nil {
		return nil, err
	}
	if user == nil {
		return nil, errUnknownUser
	}
	return user, nil
}

// restUser is the user a REST request claims to be, for logs only.
func restUser(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if strings.HasPrefix(h, "Bearer ") {
		return "(JWT)"
	}
	if name, _, ok := strings.Cut(h, ":"); ok {
		return name
	}
	return "" // never log a header that may be a bare token
}

// decodeBody decodes a JSON object body into v.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return errBodyTooLarge
		}
		return errBodyUnreadable
	}
	if len(b) == 0 || b[0] != '{' {
		return errBodyNotObject
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBodyBadJSON
	}
	return nil
}

// refuse answers a refused request and counts it by reason.
func (a *restAPI) refuse(q *request, reason string, status int, msg string) {
	a.metrics.RESTRefused.WithLabelValues(q.tenant.ID, reason).Inc()
	writeError(q.w, status, msg)
}

// publish sends a node event (Data = the client event's arguments).
func (a *restAPI) publish(q *request, name, target string, args ...any) bool {
	return a.publishKeyed(q, name, target, "", args...)
}

// publishKeyed is publish with a key: the receivers' queues keep only the
// newest unsent frame of a name and key (router.nodeEvent).
func (a *restAPI) publishKeyed(q *request, name, target, key string, args ...any) bool {
	raw, err := json.Marshal(args)
	if err != nil {
		writeError(q.w, http.StatusInternalServerError, "encode event")
		return false
	}
	ev := cluster.Event{Tenant: q.tenant.ID, Name: name, Key: key, Target: target, Data: raw, Origin: a.nodeID, From: strings.ToLower(q.user.Username)}
	if err := a.bus.Publish(q.r.Context(), ev); err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "bus unavailable")
		return false
	}
	return true
}

// userRateOK takes a token of kind for the request's user; without one it
// answers 429 with Retry-After, counts and logs it, and reports false.
func (a *restAPI) userRateOK(q *request, kind string) bool {
	ok, retry := a.users.take(time.Now(), q.tenant.ID, strings.ToLower(q.user.Username), kind)
	if ok {
		return true
	}
	q.w.Header().Set("Retry-After", strconv.Itoa(retryAfter(retry)))
	a.limitReject(q, userLimitName(kind), http.StatusTooManyRequests, "too many "+kind+" requests of this user; retry later")
	return false
}

// limitReject answers a request refused by a limit, counts and logs it.
func (a *restAPI) limitReject(q *request, limit string, status int, msg string) {
	a.metrics.LimitRejects.WithLabelValues(q.tenant.ID, limit).Inc()
	a.badLog.Warn(limit, "REST payload refused by a limit", "tenant", q.tenant.ID, "user", q.user.Username, "why", msg)
	writeError(q.w, status, msg)
}
