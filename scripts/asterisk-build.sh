#!/usr/bin/env bash
# Builds Asterisk from a source tarball into a cache outside the clone and
# prints the install prefix. A second call with the same tarballs and the same
# build options reuses the build (the cache key is their checksums and this
# script's option lines), so only the first `make test` on a machine pays for it.
#
#   scripts/asterisk-build.sh [THIRD_PARTY_DIR]     (default ../shared/third-party)
#
# THIRD_PARTY_DIR holds asterisk-22.10.1.tar.gz and pjproject-2.17.tar.bz2
# (docs/real-pbx.md says where they come from). The cache is
# $CTIWS_ASTERISK_CACHE, else $XDG_CACHE_HOME/ctiws/asterisk, else
# $HOME/.cache/ctiws/asterisk. Builds of other keys are left alone; a failed
# build leaves no prefix behind, so the next call starts again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-$root/../shared/third-party}
ast_tar=$src/asterisk-22.10.1.tar.gz
pj_tar=$src/pjproject-2.17.tar.bz2
for f in "$ast_tar" "$pj_tar"; do
	[ -f "$f" ] || { echo "asterisk-build: $f is missing" >&2; exit 3; }
done

# Only what the real-PBX suite's configuration (internal/asterisk/conf) loads,
# and what those modules depend on; everything else is off (faster build, no
# sound downloads: prompts come from Debian's asterisk-core-sounds-en-gsm).
modules=(
	app_attended_transfer app_blind_transfer app_bridgewait app_chanspy app_confbridge
	app_db app_dial app_directed_pickup app_echo app_exec app_milliwatt app_mixmonitor
	app_originate app_playback app_queue app_read app_record app_senddtmf app_softhangup
	app_stack app_transfer app_userevent app_verbose app_voicemail app_waituntil app_while
	bridge_builtin_features bridge_builtin_interval_features bridge_holding bridge_native_rtp
	bridge_simple bridge_softmix
	chan_bridge_media chan_pjsip
	codec_a_mu codec_alaw codec_gsm codec_ulaw
	format_gsm format_pcm format_wav format_wav_gsm
	func_callerid func_channel func_cut func_db func_devstate func_dialplan func_extstate
	func_global func_groupcount func_hangupcause func_logic func_math func_periodic_hook
	func_presencestate func_pjsip_contact func_pjsip_endpoint func_strings func_timeout
	pbx_config
	res_manager_devicestate res_manager_presencestate res_musiconhold res_mutestream
	res_parking res_pjproject res_pjsip res_pjsip_acl res_pjsip_authenticator_digest
	res_pjsip_caller_id res_pjsip_diversion res_pjsip_dlg_options res_pjsip_dtmf_info
	res_pjsip_empty_info res_pjsip_endpoint_identifier_ip res_pjsip_endpoint_identifier_user
	res_pjsip_exten_state res_pjsip_header_funcs res_pjsip_logger res_pjsip_mwi
	res_pjsip_mwi_body_generator res_pjsip_nat res_pjsip_outbound_authenticator_digest
	res_pjsip_outbound_publish res_pjsip_pidf_body_generator res_pjsip_pubsub res_pjsip_refer
	res_pjsip_registrar res_pjsip_rfc3326 res_pjsip_sdp_rtp res_pjsip_session
	res_rtp_asterisk res_sorcery_astdb res_sorcery_config res_sorcery_memory res_timing_timerfd
)
configure_opts=(--with-pjproject-bundled --with-jansson-bundled=no --without-srtp)

key=$( { sha256sum "$ast_tar" "$pj_tar" | cut -d' ' -f1; echo "${modules[*]}"; echo "${configure_opts[*]}"; } | sha256sum | cut -c1-16)
cache=${CTIWS_ASTERISK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ctiws/asterisk}
prefix=$cache/$key
mkdir -p "$cache"

# One build at a time per cache (two test runs on one machine wait here).
exec 9>"$cache/.lock"
flock 9
if [ -x "$prefix/sbin/asterisk" ] && [ -f "$prefix/.built" ]; then
	echo "$prefix"
	exit 0
fi

rm -rf "$prefix" "$cache/build-$key"
build=$cache/build-$key
mkdir -p "$build/downloads"
cp "$pj_tar" "$build/downloads/"
log=$build/build.log
start=$(date +%s)
echo "asterisk-build: building Asterisk 22.10.1 into $prefix (about 15 minutes on 2 cores; log: $log)" >&2
fail() { echo "asterisk-build: $1 failed; the last lines of $log:" >&2; tail -n 40 "$log" >&2; rm -rf "$prefix"; exit 1; }
tar -xzf "$ast_tar" -C "$build" || fail "unpacking"
cd "$build/asterisk-22.10.1"
./configure --prefix="$prefix" "${configure_opts[@]}" \
	--with-externals-cache="$build/downloads" --with-download-cache="$build/downloads" >>"$log" 2>&1 || fail configure
make menuselect.makeopts >>"$log" 2>&1 || fail "make menuselect.makeopts"
menuselect=(menuselect/menuselect)
for c in MENUSELECT_ADDONS MENUSELECT_APPS MENUSELECT_BRIDGES MENUSELECT_CDR MENUSELECT_CEL \
	MENUSELECT_CHANNELS MENUSELECT_CODECS MENUSELECT_FORMATS MENUSELECT_FUNCS MENUSELECT_PBX \
	MENUSELECT_RES MENUSELECT_TESTS MENUSELECT_UTILS MENUSELECT_AGIS MENUSELECT_CORE_SOUNDS \
	MENUSELECT_MOH MENUSELECT_EXTRA_SOUNDS; do
	menuselect+=(--disable-category "$c")
done
for m in "${modules[@]}"; do menuselect+=(--enable "$m"); done
"${menuselect[@]}" menuselect.makeopts >>"$log" 2>&1 || fail menuselect
make -j"$(nproc)" >>"$log" 2>&1 || fail make
make install >>"$log" 2>&1 || fail "make install"
for m in "${modules[@]}"; do
	[ -f "$prefix/lib/asterisk/modules/$m.so" ] || fail "module $m (not built)"
done
touch "$prefix/.built"
cd "$cache" && rm -rf "$build"
echo "asterisk-build: built in $(( $(date +%s) - start )) s" >&2
echo "$prefix"
