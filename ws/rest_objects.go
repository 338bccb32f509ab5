package ws

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// state reads the stored objects with a key prefix.
func (a *restAPI) state(ctx context.Context, t *Tenant, prefix string) ([]cluster.Object, error) {
	objs, _, err := a.bus.State(ctx, t.ID, prefix)
	return objs, err
}

// objectMap writes a JSON object id -> transformed object.
func (a *restAPI) objectMap(q *request, prefix string, transform func(id string, data []byte) ([]byte, bool, error)) {
	objs, err := a.state(q.r.Context(), q.tenant, prefix)
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

func (a *restAPI) restExtensions(q *request) {
	a.objectMap(q, objectPrefixExten, func(_ string, data []byte) ([]byte, bool, error) {
		var e pbx.Extension
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, false, err
		}
		b, err := extensionJSON(&e, data, extensionVariant(q.user, e.Exten, q.cfg.Privacy), q.cfg.Privacy)
		return b, true, err
	})
}

func (a *restAPI) restExtension(q *request) {
	id := q.r.PathValue("id")
	objs, err := a.state(q.r.Context(), q.tenant, objectPrefixExten+id)
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

func (a *restAPI) restQueues(q *request) {
	a.roomSnapshot(q, objectPrefixQueue, roomQueuesClear, roomQueuesPrivacy, "queue permission required")
}

func (a *restAPI) restTrunks(q *request) {
	a.roomSnapshot(q, objectPrefixTrunk, roomTrunksClear, roomTrunksPrivacy, "trunks permission required")
}

func (a *restAPI) restParkings(q *request) {
	a.roomSnapshot(q, objectPrefixParking, roomParkingsClear, roomParkingsPrivacy, "parkings permission required")
}

// roomSnapshot lists room objects like the room events: users outside both
// rooms get 403, users in the privacy room the masked variant.
func (a *restAPI) roomSnapshot(q *request, prefix string, clearRoom, privRoom rooms, forbidden string) {
	in := roomsFor(q.user)
	if in&(clearRoom|privRoom) == 0 {
		writeError(q.w, http.StatusForbidden, forbidden)
		return
	}
	masked := q.cfg.Privacy != "" && in&privRoom != 0
	a.objectMap(q, prefix, func(_ string, data []byte) ([]byte, bool, error) {
		if !masked {
			return data, true, nil
		}
		b, err := maskedObject(prefix, data, q.cfg.Privacy)
		return b, true, err
	})
}

// restConfbridges lists the conferences the user owns or takes part in.
func (a *restAPI) restConfbridges(q *request) {
	a.objectMap(q, objectPrefixConf, func(id string, data []byte) ([]byte, bool, error) {
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
