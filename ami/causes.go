package ami

import "strconv"

// causeName maps a Q.850 / Asterisk hangup cause code to astproxy's name
// (the lower-cased AST_CAUSE_* name; 26 is "answered_elsewhere").
func causeName(code string) string {
	n, err := strconv.Atoi(code)
	if err != nil {
		return "not_defined"
	}
	switch n {
	case 0:
		return "not_defined"
	case 1:
		return "unallocated"
	case 2:
		return "no_route_transit_net"
	case 3:
		return "no_route_destination"
	case 5:
		return "misdialled_trunk_prefix"
	case 6:
		return "channel_unacceptable"
	case 7:
		return "call_awarded_delivered"
	case 8:
		return "pre_empted"
	case 14:
		return "number_ported_not_here"
	case 16:
		return "normal_clearing"
	case 17:
		return "user_busy"
	case 18:
		return "no_user_response"
	case 19:
		return "no_answer"
	case 20:
		return "subscriber_absent"
	case 21:
		return "call_rejected"
	case 22:
		return "number_changed"
	case 23:
		return "redirected_to_new_destination"
	case 26:
		return "answered_elsewhere"
	case 27:
		return "destination_out_of_order"
	case 28:
		return "invalid_number_format"
	case 29:
		return "facility_rejected"
	case 30:
		return "response_to_status_enquiry"
	case 31:
		return "normal_unspecified"
	case 34:
		return "normal_circuit_congestion"
	case 38:
		return "network_out_of_order"
	case 41:
		return "normal_temporary_failure"
	case 42:
		return "switch_congestion"
	case 43:
		return "access_info_discarded"
	case 44:
		return "requested_chan_unavail"
	case 50:
		return "facility_not_subscribed"
	case 52:
		return "outgoing_call_barred"
	case 54:
		return "incoming_call_barred"
	case 57:
		return "bearercapability_notauth"
	case 58:
		return "bearercapability_notavail"
	case 65:
		return "bearercapability_notimpl"
	case 66:
		return "chan_not_implemented"
	case 69:
		return "facility_not_implemented"
	case 81:
		return "invalid_call_reference"
	case 88:
		return "incompatible_destination"
	case 95:
		return "invalid_msg_unspecified"
	case 96:
		return "mandatory_ie_missing"
	case 97:
		return "message_type_nonexist"
	case 98:
		return "wrong_message"
	case 99:
		return "ie_nonexist"
	case 100:
		return "invalid_ie_contents"
	case 101:
		return "wrong_call_state"
	case 102:
		return "recovery_on_timer_expire"
	case 103:
		return "mandatory_ie_length_error"
	case 111:
		return "protocol_error"
	case 127:
		return "interworking"
	default:
		return "not_defined"
	}
}
