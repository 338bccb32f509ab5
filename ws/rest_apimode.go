package ws

import (
	"net/http"
	"strings"
)

// nethcti-middleware's API, served natively (docs/compatibility.md, "API
// mode"). phone-island probes GET /api/user/me with a Bearer token: a 2xx
// switches it to REST under /api and the socket path /api/ws.
//
//   - POST /api/login and POST /api/logout: the middleware's JWT login.
//   - /api/ws/: the socket, like /socket.io/ (served by the Server).
//   - /api/<route>: the /webrest/<route> handler, with a Bearer JWT (the
//     middleware forwards every route it does not own to NethCTI's REST
//     API the same way).
//
// A proxy that strips /api (NS8's Traefik does) reaches the same routes as
// /login, /logout, /ws/ and /<route>.

// userRoutes registers the user-facing routes phone-island calls at
// start-up and during calls, in NethCTI's shapes (rest_user.go).
func (a *restAPI) userRoutes() {
	a.authed("GET /webrest/user/endpoints/all", "user_endpoints_all", a.restEndpointsAll)
	a.authed("GET /webrest/user/all_avatars", "user_all_avatars", a.restAllAvatars)
	a.authed("GET /webrest/user/paramurl", "user_paramurl", a.restParamURL)
	a.authed("GET /webrest/streaming/sources", "streaming_sources", a.restStreamingSources)
	a.authed("GET /webrest/astproxy/feature_codes", "feature_codes", a.restFeatureCodes)
	a.authed("GET /webrest/summary/{id}", "summary", a.restSummary) // GET covers HEAD
}

// apiRoutes registers the middleware-compatible API under /api and its
// prefix-stripped form.
func (a *restAPI) apiRoutes() {
	for _, prefix := range []string{"/api", ""} {
		a.handle("POST "+prefix+"/login", "api_login", a.apiLogin)
		a.handle("POST "+prefix+"/logout", "api_logout", a.apiLogout)
	}
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.serveAPI(w, r, strings.TrimPrefix(r.URL.Path, "/api"))
	})
	// The prefix-stripped form: anything no other route claims. Requests
	// without a Bearer token get the usual 404.
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := bearer(r); !ok {
			http.NotFound(w, r)
			return
		}
		a.serveAPI(w, r, r.URL.Path)
	})
}

// bearer returns the token of `Authorization: Bearer <token>`.
func bearer(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	return tok, ok && tok != ""
}

// serveAPI answers an API route with the /webrest handler of the same
// route. The middleware accepts only JWTs there; so does ctiws (the
// handler verifies it).
func (a *restAPI) serveAPI(w http.ResponseWriter, r *http.Request, route string) {
	if _, ok := bearer(r); !ok {
		a.metrics.RESTRequests.WithLabelValues("api", "401").Inc()
		apiUnauthorized(w, "auth header is empty")
		return
	}
	if route == "" || route == "/" || strings.HasPrefix(route, "/webrest/") || strings.Contains(route, "..") {
		a.metrics.RESTRequests.WithLabelValues("unknown", "404").Inc()
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/webrest" + route
	r2.URL.RawPath = ""
	a.mux.ServeHTTP(w, r2)
}

// apiUnauthorized is the middleware's 401 body.
func apiUnauthorized(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"code": http.StatusUnauthorized, "message": msg, "data": nil})
}
