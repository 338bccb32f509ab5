package ws

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/auth"
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
			var le errLogin
			if !errors.As(err, &le) && !errors.Is(err, auth.ErrJWT) {
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

// errBodyTooLarge is decodeBody's error for a body over its cap.
var errBodyTooLarge = errors.New("body too large")

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
		return errors.New("body too large or unreadable")
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("body is not valid JSON for this endpoint")
	}
	return nil
}

// restLogin implements POST /webrest/authentication/login (§3.1): success is
// HTTP 401 with `WWW-Authenticate: Digest <nonce>`.
//
// Password checks are throttled per user and per client address (429 with
// Retry-After, see LoginLimits), run in the tenant's share of the bcrypt
// pool (503 with Retry-After when its queue is full), and cost the same
// for unknown users as for wrong passwords.
func (s *Server) restLogin(w http.ResponseWriter, r *http.Request, t *Tenant) {
	var body struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	username, ok1 := body.Username.(string)
	password, ok2 := body.Password.(string)
	if !ok1 || !ok2 || username == "" || password == "" {
		s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	cfg := t.Config()
	user, known := cfg.Directory.User(username)
	if cfg.AuthEnabled && !s.checkPassword(w, r, t, cfg, user, username, password) {
		return
	}
	canonical := strings.ToLower(username)
	if known {
		canonical = strings.ToLower(user.Username)
	}
	nonce := auth.NewNonce()
	token := auth.LegacyToken(username, password, nonce)
	var err error
	if strings.EqualFold(r.Header.Get("auth-exp"), "no-exp") {
		var evicted int
		evicted, err = s.backend.Tokens.PutPersistent(r.Context(), t.ID, canonical, auth.HashToken(token), s.opts.MaxPersistentTokens)
		if evicted > 0 {
			s.metrics.TokensEvicted.WithLabelValues(t.ID).Add(float64(evicted))
			s.log.Info("persistent tokens evicted: user over max_persistent_tokens", "tenant", t.ID, "user", canonical, "evicted", evicted)
		}
	} else {
		err = s.backend.Tokens.Put(r.Context(), t.ID, canonical, auth.HashToken(token), s.opts.TokenTTL)
	}
	if err != nil {
		s.log.Error("token store failed", "tenant", t.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.Logins.WithLabelValues(t.ID, "rest_ok").Inc()
	w.Header().Set("WWW-Authenticate", "Digest "+nonce)
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

// checkPassword runs the throttled, queued password check of a REST login
// and answers the refusals itself; true means the password is right.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, t *Tenant, cfg *TenantConfig, user *directory.User, username, password string) bool {
	now := time.Now()
	name := username
	if user != nil {
		name = user.Username
	}
	userKey := "u\x00" + t.ID + "\x00" + strings.ToLower(name)
	addrKey := "a\x00" + t.ID + "\x00" + addrKey(clientAddr(r, s.opts.TrustedProxies))
	scope, wait := "user", s.failures.wait(userKey, now)
	if aw := s.failures.wait(addrKey, now); aw > wait {
		scope, wait = "address", aw
	}
	if wait > 0 {
		s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
		s.metrics.LoginThrottled.WithLabelValues(t.ID, scope).Inc()
		s.loginFailed(t, "REST login", username, errLogin("too many failed logins: "+scope+" locked"), "retry_after", wait.Round(time.Second).String())
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many failed logins, retry later")
		return false
	}
	if err := s.bcrypt.acquire(r.Context(), t.ID); err != nil {
		if errors.Is(err, errBcryptBusy) {
			s.metrics.PasswordCheckBusy.WithLabelValues(t.ID).Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "too many logins in progress, retry later")
		}
		return false
	}
	// Unknown users are checked too (against a dummy hash of the file's
	// cost): the answer takes as long as for a wrong password.
	good := cfg.Htpasswd.Check(name, password)
	s.bcrypt.release()
	s.metrics.PasswordChecks.WithLabelValues(t.ID).Inc()
	if good && user != nil {
		s.failures.reset(userKey)
		return true
	}
	now = time.Now()
	s.failures.fail(userKey, s.opts.LoginLimits.FreeUser, now)
	s.failures.fail(addrKey, s.opts.LoginLimits.FreeAddress, now)
	s.metrics.Logins.WithLabelValues(t.ID, "rest_refused").Inc()
	why := errWrongPass
	if user == nil {
		why = errUnknownUser
	}
	s.loginFailed(t, "REST login", username, why)
	writeError(w, http.StatusUnauthorized, "unauthorized")
	return false
}

// restLogout implements POST /webrest/authentication/logout. A legacy token
// is deleted; a JWT (Bearer, or as the token of user:token) is put on the
// tenant's deny-list until its exp, cluster-wide.
func (s *Server) restLogout(w http.ResponseWriter, r *http.Request, t *Tenant) {
	h := r.Header.Get("Authorization")
	var name, token string
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		token = strings.TrimSpace(tok)
	} else {
		var ok bool
		name, token, ok = strings.Cut(h, ":")
		if !ok || name == "" || token == "" {
			s.loginFailed(t, "REST logout", name, errNoCreds)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
	}
	if name == "" || auth.LooksLikeJWT(token) && len(t.Config().JWTSecret) > 0 {
		s.logoutJWT(w, r, t, name, token)
		return
	}
	user, _, err := s.authenticate(r.Context(), t, name, token)
	if err != nil {
		s.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	username := strings.ToLower(name)
	if user != nil {
		username = strings.ToLower(user.Username)
	}
	if err := s.backend.Tokens.Delete(r.Context(), t.ID, username, auth.HashToken(token)); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}

// logoutJWT revokes a JWT until its exp; name, when given, must be its user.
func (s *Server) logoutJWT(w http.ResponseWriter, r *http.Request, t *Tenant, name, token string) {
	user, claims, err := s.verifyJWT(r.Context(), t, token)
	if err == nil && name != "" {
		if u, ok := t.Config().Directory.User(name); !ok || u != user {
			err = errJWTOtherUser
		}
	}
	if err != nil {
		var le errLogin
		if !errors.As(err, &le) && !errors.Is(err, auth.ErrJWT) {
			writeError(w, http.StatusServiceUnavailable, "token store unavailable")
			return
		}
		s.loginFailed(t, "REST logout", name, err)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if err := s.backend.Tokens.DenyJWT(r.Context(), t.ID, auth.HashToken(token), claims.Expires); err != nil {
		writeError(w, http.StatusServiceUnavailable, "token store unavailable")
		return
	}
	s.metrics.TokensRevoked.WithLabelValues(t.ID, "logout").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"message": "logged out"})
}

// state reads the stored objects with a key prefix.
func (s *Server) state(ctx context.Context, t *Tenant, prefix string) ([]cluster.Object, error) {
	objs, _, err := s.backend.Bus.State(ctx, t.ID, prefix)
	return objs, err
}

// objectMap writes a JSON object id -> transformed object.
func (s *Server) objectMap(q *request, prefix string, transform func(id string, data []byte) ([]byte, bool, error)) {
	objs, err := s.state(q.r.Context(), q.tenant, prefix)
	if err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "state unavailable")
		return
	}
	out := make(map[string]json.RawMessage, len(objs))
	for _, o := range objs {
		id := strings.TrimPrefix(o.Key, prefix)
		data, keep, err := transform(id, o.Data)
		if err != nil {
			continue
		}
		if keep {
			out[id] = data
		}
	}
	writeJSON(q.w, http.StatusOK, out)
}

func (s *Server) restExtensions(q *request) {
	s.objectMap(q, objectPrefixExten, func(_ string, data []byte) ([]byte, bool, error) {
		var e pbx.Extension
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, false, err
		}
		b, err := extensionJSON(&e, data, extensionVariant(q.user, e.Exten, q.cfg.Privacy), q.cfg.Privacy)
		return b, true, err
	})
}

func (s *Server) restExtension(q *request) {
	id := q.r.PathValue("id")
	objs, err := s.state(q.r.Context(), q.tenant, objectPrefixExten+id)
	if err != nil {
		writeError(q.w, http.StatusServiceUnavailable, "state unavailable")
		return
	}
	for _, o := range objs {
		if o.Key != objectPrefixExten+id {
			continue
		}
		var e pbx.Extension
		if err := json.Unmarshal(o.Data, &e); err != nil {
			break
		}
		b, err := extensionJSON(&e, o.Data, extensionVariant(q.user, e.Exten, q.cfg.Privacy), q.cfg.Privacy)
		if err != nil {
			break
		}
		q.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = q.w.Write(b)
		return
	}
	writeError(q.w, http.StatusNotFound, "no such extension")
}

func (s *Server) restQueues(q *request) {
	s.roomSnapshot(q, objectPrefixQueue, roomQueuesClear, roomQueuesPrivacy, "queue permission required")
}

func (s *Server) restTrunks(q *request) {
	s.roomSnapshot(q, objectPrefixTrunk, roomTrunksClear, roomTrunksPrivacy, "trunks permission required")
}

func (s *Server) restParkings(q *request) {
	s.roomSnapshot(q, objectPrefixParking, roomParkingsClear, roomParkingsPrivacy, "parkings permission required")
}

// roomSnapshot lists room objects like the room events: users outside both
// rooms get 403, users in the privacy room the masked variant.
func (s *Server) roomSnapshot(q *request, prefix string, clearRoom, privRoom rooms, forbidden string) {
	in := roomsFor(q.user)
	if in&(clearRoom|privRoom) == 0 {
		writeError(q.w, http.StatusForbidden, forbidden)
		return
	}
	masked := q.cfg.Privacy != "" && in&privRoom != 0
	s.objectMap(q, prefix, func(_ string, data []byte) ([]byte, bool, error) {
		if !masked {
			return data, true, nil
		}
		b, err := maskedObject(prefix, data, q.cfg.Privacy)
		return b, true, err
	})
}

// restConfbridges lists the conferences the user owns or takes part in.
func (s *Server) restConfbridges(q *request) {
	s.objectMap(q, objectPrefixConf, func(id string, data []byte) ([]byte, bool, error) {
		var c pbx.Conference
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, false, err
		}
		if q.user.Owns(c.ID) {
			return data, true, nil
		}
		for _, u := range c.Users {
			if q.user.Owns(u.ExtenID) {
				return data, true, nil
			}
		}
		return nil, false, nil
	})
}

// mainExtension reads the user's main extension from the state.
func (s *Server) mainExtension(ctx context.Context, t *Tenant, u *directory.User) *pbx.Extension {
	if u.MainExtension == "" {
		return nil
	}
	objs, err := s.state(ctx, t, objectPrefixExten+u.MainExtension)
	if err != nil {
		return nil
	}
	for _, o := range objs {
		if o.Key == objectPrefixExten+u.MainExtension {
			var e pbx.Extension
			if json.Unmarshal(o.Data, &e) == nil {
				return &e
			}
		}
	}
	return nil
}

func (s *Server) restPresenceGet(q *request) {
	status, to := customPresence(q.user, s.mainExtension(q.r.Context(), q.tenant, q.user))
	out := map[string]string{"status": status}
	if to != "" {
		out["to"] = to
	}
	writeJSON(q.w, http.StatusOK, out)
}

// restPresenceSet queues the presence change for the PBX owner, which
// carries it out through AMI (AstDB); the events follow from the PBX.
// Permissions as in NethCTI: dnd needs the DND permission; callforward,
// voicemail and cellphone the call-forward one; cellphone forwards to the
// user's own cellphone from users.json (never a number from the request).
func (s *Server) restPresenceSet(q *request) {
	var body struct {
		Status string `json:"status"`
		To     string `json:"to"`
	}
	if err := decodeBody(q.r, &body); err != nil {
		writeError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	u := q.user
	to := ""
	switch body.Status {
	case presenceOnline:
	case presenceDND:
		if !u.Perms.DND {
			s.refuse(q, "presence_forbidden", http.StatusForbidden, "dnd permission required")
			return
		}
	case presenceVoicemail, presenceCallforward, presenceCellphone:
		if !u.Perms.CallForward {
			s.refuse(q, "presence_forbidden", http.StatusForbidden, "call_forward permission required")
			return
		}
		switch body.Status {
		case presenceCallforward:
			if !pbx.ValidNumber(body.To) {
				s.refuse(q, "bad_number", http.StatusBadRequest, fmt.Sprintf("\"to\" must be a phone number: digits, a leading + and * or #, at most %d characters", pbx.MaxNumberLen))
				return
			}
			to = body.To
		case presenceCellphone:
			if !pbx.ValidNumber(pbx.NormaliseNumber(u.Cellphone)) {
				s.refuse(q, "presence_forbidden", http.StatusForbidden, "the user has no cellphone number")
				return
			}
		case presenceVoicemail:
			if len(u.Voicemails) == 0 {
				s.refuse(q, "presence_forbidden", http.StatusForbidden, "the user has no voicemail box")
				return
			}
		}
	default:
		s.refuse(q, "bad_status", http.StatusBadRequest, "status must be one of online, dnd, callforward, voicemail, cellphone")
		return
	}
	if u.MainExtension == "" {
		writeError(q.w, http.StatusBadRequest, "user has no main extension")
		return
	}
	s.command(q, cluster.Presence{Exten: u.MainExtension, Status: body.Status, To: to})
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

// restAvatar publishes `userProfileAvatarUpdate` with the avatar as the
// original does (a data URL), but only a PNG, JPEG or WebP image within
// the avatar limits: it goes to every logged-in socket of the tenant.
func (s *Server) restAvatar(q *request) {
	lim := s.opts.Limits
	// A base64 data URL is 4/3 of the image, plus the JSON around it.
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, int64(lim.AvatarBytes)*4/3+4096)
	var body struct {
		Avatar *string `json:"avatar"`
	}
	if err := decodeBody(q.r, &body); err != nil {
		if errors.Is(err, errBodyTooLarge) {
			s.limitReject(q, limitAvatarBytes, http.StatusRequestEntityTooLarge, "avatar larger than "+strconv.Itoa(lim.AvatarBytes)+" bytes")
			return
		}
		writeError(q.w, http.StatusBadRequest, err.Error())
		return
	}
	payload := map[string]string{"username": q.user.Username}
	if body.Avatar != nil && *body.Avatar != "" {
		if aerr := checkAvatar(*body.Avatar, lim.AvatarBytes, lim.AvatarDimension); aerr != nil {
			s.limitReject(q, aerr.limit, aerr.status, aerr.msg)
			return
		}
		payload["avatar"] = *body.Avatar
	}
	if s.publish(q, "userProfileAvatarUpdate", targetAllLoggedIn, payload) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

// limitReject answers a request refused by a limit, counts and logs it.
func (s *Server) limitReject(q *request, limit string, status int, msg string) {
	s.metrics.LimitRejects.WithLabelValues(q.tenant.ID, limit).Inc()
	s.badLog.Warn(limit, "REST payload refused by a limit", "tenant", q.tenant.ID, "user", q.user.Username, "why", msg)
	writeError(q.w, status, msg)
}

func (s *Server) restDefaultDevice(q *request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.ID == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"id\":\"<extension>\"}")
		return
	}
	if !q.user.Owns(body.ID) {
		writeError(q.w, http.StatusForbidden, "extension does not belong to the user")
		return
	}
	if s.publish(q, "updateDefaultDevice", strings.ToLower(q.user.Username), body.ID) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

// restPostit sends a post-it to its recipient; the text is capped at
// Limits.PostitBytes (413 above).
func (s *Server) restPostit(q *request) {
	var body struct {
		Recipient string `json:"recipient"`
		Text      string `json:"text"`
	}
	err := decodeBody(q.r, &body)
	if errors.Is(err, errBodyTooLarge) || len(body.Text) > s.opts.Limits.PostitBytes {
		s.limitReject(q, limitPostitBytes, http.StatusRequestEntityTooLarge, "post-it text larger than "+strconv.Itoa(s.opts.Limits.PostitBytes)+" bytes")
		return
	}
	if err != nil || body.Recipient == "" || body.Text == "" || len(body.Recipient) > 256 {
		writeError(q.w, http.StatusBadRequest, "body must be {\"recipient\":\"<user>\",\"text\":\"…\"}")
		return
	}
	rcpt, ok := q.cfg.Directory.User(body.Recipient)
	if !ok {
		writeError(q.w, http.StatusNotFound, "no such recipient")
		return
	}
	target := strings.ToLower(rcpt.Username)
	postit := map[string]any{"creator": q.user.Username, "recipient": rcpt.Username, "text": body.Text, "creation": time.Now().UTC().Format(time.RFC3339)}
	if !s.publish(q, "updateNewPostit", target, []any{postit}) {
		return
	}
	if s.publish(q, "newPostitCounter", target, map[string]any{"user": rcpt.Username, "counter": 1}) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

func (s *Server) restStreaming(subscribe bool) func(*request) {
	return func(q *request) {
		var body struct {
			ID string `json:"id"`
		}
		if err := decodeBody(q.r, &body); err != nil || body.ID == "" {
			writeError(q.w, http.StatusBadRequest, "body must be {\"id\":\"<source>\"}")
			return
		}
		known := false
		for _, id := range q.cfg.Streams {
			if strings.EqualFold(id, body.ID) {
				known = true
			}
		}
		if !known {
			writeError(q.w, http.StatusNotFound, "no such streaming source")
			return
		}
		if subscribe && !q.user.MayStream(body.ID) {
			s.refuse(q, "streaming_forbidden", http.StatusForbidden, "the streaming source is not allowed to the user")
			return
		}
		raw, _ := json.Marshal(map[string]any{"id": body.ID, "subscribe": subscribe})
		ev := cluster.Event{Tenant: q.tenant.ID, Name: evStreamSubscription, Target: strings.ToLower(q.user.Username), Data: raw, Origin: s.opts.NodeID}
		if err := s.backend.Bus.Publish(q.r.Context(), ev); err != nil {
			writeError(q.w, http.StatusServiceUnavailable, "bus unavailable")
			return
		}
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

// restCall: for a WebRTC extension of the user the call is started by the
// client (callWebrtc); a physical phone is called through the PBX owner
// (Originate) and the answer waits for the owner's result. Calling from
// another user's extension needs the ad_phone permission.
func (s *Server) restCall(q *request) {
	var body struct {
		EndpointID   string `json:"endpointId"`
		EndpointType string `json:"endpointType"`
		Number       string `json:"number"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.Number == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"endpointId\",\"endpointType\",\"number\"}")
		return
	}
	if body.EndpointType != "" && body.EndpointType != "extension" {
		s.refuse(q, "bad_endpoint_type", http.StatusBadRequest, "endpointType must be \"extension\"")
		return
	}
	ext := body.EndpointID
	if ext == "" {
		ext = q.user.MainExtension
	}
	e, owns := q.user.Extensions[ext]
	if !owns && (!q.user.Perms.AdminPhone || !pbx.ValidID(ext)) {
		writeError(q.w, http.StatusForbidden, "endpoint does not belong to the user")
		return
	}
	number := pbx.NormaliseNumber(body.Number)
	if !pbx.ValidNumber(number) {
		s.refuse(q, "bad_number", http.StatusBadRequest, "number is not dialable: digits, a leading + and * or #, at most "+strconv.Itoa(pbx.MaxNumberLen)+" characters")
		return
	}
	if owns && e.Type == "webrtc" {
		if s.publish(q, "callWebrtc", strings.ToLower(q.user.Username), number) {
			writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
		}
		return
	}
	s.awaitCommand(q, cluster.Call{Exten: ext, Number: number}, originateBudget)
}

func (s *Server) restAnswerWebrtc(q *request) {
	var body struct {
		EndpointID string `json:"endpointId"`
	}
	if err := decodeBody(q.r, &body); err != nil || body.EndpointID == "" {
		writeError(q.w, http.StatusBadRequest, "body must be {\"endpointId\":\"<extension>\"}")
		return
	}
	if !q.user.Owns(body.EndpointID) {
		writeError(q.w, http.StatusForbidden, "endpoint does not belong to the user")
		return
	}
	if s.publish(q, "answerWebrtc", strings.ToLower(q.user.Username), body.EndpointID) {
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}

// restAlarm accepts a collectd notification and sends qmAlarm to the
// qmanager room. The poster proves itself with the tenant's alarm secret
// (`Authorization: Alarm <secret>`) or a user token with the qmanager
// permission; a loopback address proves nothing behind a proxy or sidecar.
func (s *Server) restAlarm(w http.ResponseWriter, r *http.Request, t *Tenant) {
	if !s.alarmAllowed(r, t) {
		s.metrics.RESTRefused.WithLabelValues(t.ID, "alarm_forbidden").Inc()
		writeError(w, http.StatusForbidden, "alarm secret or qmanager permission required")
		return
	}
	var body struct {
		Type         string `json:"type"`
		Notification struct {
			Status       string `json:"status"`
			Type         string `json:"type"`
			TypeInstance string `json:"type_instance"`
		} `json:"notification"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n := body.Notification
	queue := strings.ReplaceAll(n.TypeInstance, "Queue", "")
	if n.Status == "" || n.Type == "" || queue == "" {
		writeError(w, http.StatusBadRequest, "notification needs status, type and type_instance")
		return
	}
	payload := map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "status": strings.ToLower(n.Status), "alarm": n.Type, "queue": queue}
	raw, _ := json.Marshal([]any{payload})
	ev := cluster.Event{Tenant: t.ID, Name: evQMAlarm, Target: targetRoomPrefix + roomNameQManager, Data: raw, Origin: s.opts.NodeID, Time: time.Now().UnixNano()}
	if err := s.backend.Bus.Publish(r.Context(), ev); err != nil {
		writeError(w, http.StatusServiceUnavailable, "bus unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
}

// alarmAllowed checks the credential of an alarm poster.
func (s *Server) alarmAllowed(r *http.Request, t *Tenant) bool {
	if secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Alarm "); ok {
		want := t.Config().AlarmSecret
		return len(want) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), want) == 1
	}
	u, err := s.restAuth(r, t)
	return err == nil && u != nil && u.Perms.QManager
}
