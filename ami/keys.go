package ami

import "github.com/ctiws/ctiws/pbx"

// okey identifies a model object without building its string key.
type okey struct {
	k   pbx.Kind
	id  string
	sub string // member of a queue
}

// String is the cluster.Event key: exten/201, queuemember/401/201, …
func (k okey) String() string {
	if k.k == pbx.KindQueueMember {
		return k.k.Key(k.id + "/" + k.sub)
	}
	return k.k.Key(k.id)
}
