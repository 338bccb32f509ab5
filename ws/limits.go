package ws

// Limit names (values of the `limit` label of ctiws_limit_rejects_total).
const (
	limitAvatarType       = "avatar_type"
	limitAvatarBytes      = "avatar_bytes"
	limitAvatarDimensions = "avatar_dimensions"
	limitAvatarDecode     = "avatar_decode"
	limitPostitBytes      = "postit_bytes"
	limitRelayBytes       = "relay_bytes"
	limitRelayRate        = "relay_rate"
	limitRelayReceiver    = "relay_receiver_busy"
)
