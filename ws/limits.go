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
	limitPostitReceiver   = "postit_receiver_busy"
	limitSocketsPerUser   = "sockets_per_user"
)

// userLimitName is the limit label of a per-user rate (userLimiter):
// user_relay_rate, user_postit_rate, user_avatar_rate, user_presence_rate.
func userLimitName(kind string) string { return "user_" + kind + "_rate" }
