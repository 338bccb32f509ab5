package console

import (
	"encoding/json"
	"strings"

	"github.com/ctiws/ctiws/pbx"
)

// masked returns a PBX object's JSON as a user with privacy sees it (the
// strictest view: every conversation masked, queue callers too), by its
// state key; priv "" leaves it clear. It follows ws/privacy.go, which
// decides per recipient; the console shows either that view or, to
// console users given the right, the clear one. An object of a kind
// without numbers, or one that does not decode, is shown as it is (a
// decoding failure of a known kind is hidden).
func masked(key string, data json.RawMessage, priv string) json.RawMessage {
	if priv == "" || len(data) == 0 {
		return data
	}
	var out any
	var err error
	switch {
	case strings.HasPrefix(key, pbx.KeyExten):
		var v pbx.Extension
		if err = json.Unmarshal(data, &v); err == nil {
			out = v.Masked(priv, priv)
		}
	case strings.HasPrefix(key, pbx.KeyQueue):
		var v pbx.Queue
		if err = json.Unmarshal(data, &v); err == nil {
			out = v.Masked(priv)
		}
	case strings.HasPrefix(key, pbx.KeyTrunk):
		var v pbx.Trunk
		if err = json.Unmarshal(data, &v); err == nil {
			out = v.Masked(priv)
		}
	case strings.HasPrefix(key, pbx.KeyParking):
		var v pbx.Parking
		if err = json.Unmarshal(data, &v); err == nil {
			out = v.Masked(priv)
		}
	default:
		return data
	}
	if err != nil {
		return json.RawMessage(`"(not shown: undecodable)"`)
	}
	b, err := pbx.Marshal(out)
	if err != nil {
		return json.RawMessage(`"(not shown: unencodable)"`)
	}
	return b
}
