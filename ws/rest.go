package ws

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
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

// routes registers every HTTP route.
func (s *Server) routes() {
	s.mux.HandleFunc("/socket.io/", s.serveSocketIO)
	s.mux.HandleFunc("/ws/", s.serveSocketIO) // nethcti-middleware compatible path (/api/ws behind a prefix strip)
	s.handle("POST /webrest/authentication/login", "auth_login", s.restLogin)
	s.handle("POST /webrest/authentication/logout", "auth_logout", s.restLogout)
	s.authed("GET /webrest/astproxy/extensions", "extensions", s.restExtensions)
	s.authed("GET /webrest/astproxy/extension/{id}", "extension", s.restExtension)
	s.authed("GET /webrest/astproxy/queues", "queues", s.restQueues)
	s.authed("GET /webrest/astproxy/trunks", "trunks", s.restTrunks)
	s.authed("GET /webrest/astproxy/parkings", "parkings", s.restParkings)
	s.authed("GET /webrest/astproxy/confbridges", "confbridges", s.restConfbridges)
	s.authed("GET /webrest/user/me", "user_me", s.restMe)
	s.userRoutes()
	s.authed("GET /webrest/user/presence", "user_presence_get", s.restPresenceGet)
	s.authed("POST /webrest/user/presence", "user_presence_set", s.restPresenceSet)
	s.authed("POST /webrest/user/profile/avatar", "user_avatar", s.restAvatar)
	s.authed("POST /webrest/user/default_device", "user_default_device", s.restDefaultDevice)
	s.authed("POST /webrest/postit/create", "postit_create", s.restPostit)
	s.authed("POST /webrest/streaming/subscribe", "streaming_subscribe", s.restStreaming(true))
	s.authed("POST /webrest/streaming/unsubscribe", "streaming_unsubscribe", s.restStreaming(false))
	s.authed("POST /webrest/astproxy/call", "call", s.restCall)
	s.authed("POST /webrest/astproxy/answer_webrtc", "answer_webrtc", s.restAnswerWebrtc)
	s.astproxyRoutes()
	s.handle("POST /webrest/alarm", "alarm", s.restAlarm)
	s.apiRoutes()
	s.mux.HandleFunc("/webrest/", func(w http.ResponseWriter, r *http.Request) {
		s.metrics.RESTRequests.WithLabelValues("unknown", "404").Inc()
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
}

// handle registers a route with tenant selection and metrics.
func (s *Server) handle(pattern, route string, fn func(http.ResponseWriter, *http.Request, *Tenant)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		defer func() {
			s.metrics.RESTRequests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			s.metrics.RESTDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		t := s.tenants.Load().lookup(r.Host)
		if t == nil {
			s.metrics.UnknownHostRejects.Inc()
			writeError(rec, http.StatusNotFound, "unknown host")
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, maxBody)
		defer s.panics.Recover(guard.REST, t.ID, func(error) {
			writeError(rec, http.StatusInternalServerError, "internal error")
		})
		if h := s.opts.hooks.rest; h != nil {
			h(t.ID, route)
		}
		fn(rec, r, t)
	})
}

// authed registers a route that needs `Authorization: user:token` or a JWT.
func (s *Server) authed(pattern, route string, fn func(*request)) {
	s.handle(pattern, route, func(w http.ResponseWriter, r *http.Request, t *Tenant) {
		user, err := s.restAuth(r, t)
		if err != nil {
			if !refused(err) {
				// The token store failed: not the client's fault.
				s.log.Warn("REST authentication failed: token store unavailable", "tenant", t.ID, "err", err)
				writeError(w, http.StatusServiceUnavailable, "token store unavailable")
				return
			}
			s.loginFailed(t, "REST authentication", restUser(r), err, "route", route)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		fn(&request{w: w, r: r, tenant: t, cfg: t.Config(), user: user})
	})
}

// restAuth authenticates a REST request.
func (s *Server) restAuth(r *http.Request, t *Tenant) (*directory.User, error) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		u, _, err := s.verifyJWT(r.Context(), t, strings.TrimSpace(tok))
		return u, err
	}
	name, token, ok := strings.Cut(h, ":")
	if !ok || name == "" || token == "" {
		return nil, errNoCreds
	}
	user, _, err := s.authenticate(r.Context(), t, name, token)
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
func (s *Server) refuse(q *request, reason string, status int, msg string) {
	s.metrics.RESTRefused.WithLabelValues(q.tenant.ID, reason).Inc()
	writeError(q.w, status, msg)
}

// command queues a command for the tenant's PBX owner and answers 202.
func (s *Server) command(q *request, args cluster.CommandArgs) {
	err := s.backend.Commands.Send(q.r.Context(), cluster.NewCommand(q.tenant.ID, strings.ToLower(q.user.Username), args))
	if err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "command queue unavailable")
		return
	}
	writeJSON(q.w, http.StatusAccepted, map[string]string{"message": "accepted"})
}

// publish sends a node event (Data = the client event's arguments).
func (s *Server) publish(q *request, name, target string, args ...any) bool {
	raw, err := json.Marshal(args)
	if err != nil {
		writeError(q.w, http.StatusInternalServerError, "encode event")
		return false
	}
	ev := cluster.Event{Tenant: q.tenant.ID, Name: name, Target: target, Data: raw, Origin: s.opts.NodeID, Time: time.Now().UnixNano()}
	if err := s.backend.Bus.Publish(q.r.Context(), ev); err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "bus unavailable")
		return false
	}
	return true
}

// limitReject answers a request refused by a limit, counts and logs it.
func (s *Server) limitReject(q *request, limit string, status int, msg string) {
	s.metrics.LimitRejects.WithLabelValues(q.tenant.ID, limit).Inc()
	s.badLog.Warn(limit, "REST payload refused by a limit", "tenant", q.tenant.ID, "user", q.user.Username, "why", msg)
	writeError(q.w, status, msg)
}
