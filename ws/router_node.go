package ws

import (
	"encoding/json"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/ws/eio"
)

// Node events that carry what one user sends to others.
const (
	evAvatarUpdate  = "userProfileAvatarUpdate"
	evNewPostit     = "updateNewPostit"
	evPostitCounter = "newPostitCounter"
)

// nodeEvent routes an unfenced event published by a node: Data is the JSON
// array of the client event's arguments, Target selects the recipients.
func (r *router) nodeEvent(ev cluster.Event) {
	switch ev.Name {
	case evTakeOver:
		r.sockets.deliverToSocket(strings.TrimPrefix(ev.Target, targetSocketPrefix), takeOver)
		return
	case evSocketCap:
		r.sockets.disconnectSocket(strings.TrimPrefix(ev.Target, targetSocketPrefix), reasonSocketCap)
		return
	case evMessage:
		r.toUsersDroppable(ev.Target, ev.From, eio.Event(evMessage, ev.Data), evMessage, limitRelayReceiver)
		return
	case evStreamSubscription:
		r.streamSubscription(ev)
		return
	case evPasswordChanged:
		r.closeUser(ev.Target, reasonPasswordChanged)
		return
	}
	f, err := nodeFrame(ev)
	if err != nil {
		r.bad(ev, err)
		return
	}
	switch {
	case ev.Name == evAvatarUpdate && ev.Target == targetAllLoggedIn && ev.Key != "":
		// A user's avatar is state: only the newest unsent one is kept.
		r.toAllLatest(f, ev.Name, ev.Name+"|"+ev.Key)
	case (ev.Name == evNewPostit || ev.Name == evPostitCounter) && !strings.Contains(ev.Target, ":"):
		r.toUsersDroppable(ev.Target, ev.From, f, ev.Name, limitPostitReceiver)
	case strings.HasPrefix(ev.Target, targetSocketPrefix):
		r.sockets.deliverToSocket(strings.TrimPrefix(ev.Target, targetSocketPrefix), f)
	case ev.Target == targetRoomPrefix+roomNameQManager:
		r.fanout(r.all(), ev.Name, "", func(m *member) []byte {
			if m.l.rooms&roomQManager != 0 {
				return f
			}
			return nil
		})
	case strings.HasPrefix(ev.Target, targetStreamPrefix):
		r.toStream(strings.TrimPrefix(ev.Target, targetStreamPrefix), f, ev.Name)
	case ev.Target == targetAllLoggedIn:
		r.toAll(f, ev.Name, "")
	default:
		r.toUsers([]string{ev.Target}, f, ev.Name, "")
	}
}

// nodeFrame encodes a node event whose Data is an argument array.
func nodeFrame(ev cluster.Event) ([]byte, error) {
	if len(ev.Data) == 0 {
		return eio.Event(ev.Name), nil
	}
	var args []json.RawMessage
	if err := json.Unmarshal(ev.Data, &args); err != nil {
		return nil, err
	}
	raw := make([][]byte, len(args))
	for i, a := range args {
		raw[i] = a
	}
	return eio.Event(ev.Name, raw...), nil
}

// streamSubscription makes every local socket of a user join or leave a
// streaming source: Data is {"id":"…","subscribe":true|false}.
func (r *router) streamSubscription(ev cluster.Event) {
	var s struct {
		ID        string `json:"id"`
		Subscribe bool   `json:"subscribe"`
	}
	if err := json.Unmarshal(ev.Data, &s); err != nil || s.ID == "" {
		r.bad(ev, err)
		return
	}
	id := strings.ToLower(s.ID)
	for _, c := range r.sockets.userConns(ev.Target) {
		c.mu.Lock()
		if s.Subscribe {
			if c.streams == nil {
				c.streams = map[string]bool{}
			}
			c.streams[id] = true
		} else {
			delete(c.streams, id)
		}
		c.mu.Unlock()
	}
}

// toStream sends frame once to every local socket subscribed to a source;
// a newer frame of the source replaces an unsent one.
func (r *router) toStream(id string, f []byte, name string) {
	id = strings.ToLower(id)
	r.fanout(r.all(), name, name+"|"+id, func(m *member) []byte {
		c := m.c
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.streams[id] {
			return f
		}
		return nil
	})
}

// closeUser closes every local socket of a user (on its own goroutine: a
// close frame may wait on a slow peer, and the router must not).
func (r *router) closeUser(user, reason string) {
	for _, c := range r.sockets.userConns(user) {
		go c.closeTransport(reason)
	}
}
