package ws

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ctiws/ctiws/cluster"
)

func (a *restAPI) restStreaming(subscribe bool) func(*request) {
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
			a.refuse(q, "streaming_forbidden", http.StatusForbidden, "the streaming source is not allowed to the user")
			return
		}
		raw, _ := json.Marshal(map[string]any{"id": body.ID, "subscribe": subscribe})
		ev := cluster.Event{Tenant: q.tenant.ID, Name: evStreamSubscription, Target: strings.ToLower(q.user.Username), Data: raw, Origin: a.nodeID}
		if err := a.bus.Publish(q.r.Context(), ev); err != nil {
			writeError(q.w, http.StatusServiceUnavailable, "bus unavailable")
			return
		}
		writeJSON(q.w, http.StatusOK, map[string]string{"message": "ok"})
	}
}
