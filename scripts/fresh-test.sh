#!/usr/bin/env bash
# Runs `make test` (through .ci/run) the way a fresh machine would: a fresh
# clone of HEAD, an empty environment (env -i) with a new HOME and TMPDIR, no
# XDG_RUNTIME_DIR, and so no Go, npm or Asterisk caches. Run it before every
# stop (`make test-fresh`): a green run on a used machine can hide a missing
# install step or a file a suite leaves behind.
#
#   scripts/fresh-test.sh [SHARED_DIR]    (default ../shared beside the clone)
#
# The packages a run installs with apt stay installed (the machine's, not the
# clone's); everything else it makes lives in one temporary folder, removed
# at the end unless KEEP=1. Prints the time it took.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-$root/../shared}
work=$(mktemp -d /var/tmp/ctiws-fresh.XXXXXX)
cleanup() { chmod -R u+w "$work" 2>/dev/null; if [ "${KEEP:-0}" = 1 ]; then echo "fresh-test: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

git clone -q --no-hardlinks "$root" "$work/main"
if [ -d "$shared" ]; then ln -s "$(cd "$shared" && pwd)" "$work/shared"; fi
mkdir -p "$work/home" "$work/tmp"

go=$(command -v go || echo /usr/local/go/bin/go)
path=$(dirname "$go"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
start=$(date +%s)
set +e
(cd "$work/main" && env -i PATH="$path" HOME="$work/home" TMPDIR="$work/tmp" LANG=C.UTF-8 CI=true \
	bash .ci/run </dev/null 2>&1 | tee "$work/ci.log")
rc=${PIPESTATUS[0]}
set -e
left=$(ls -A "$work/tmp" 2>/dev/null || true)
echo "fresh-test: .ci/run exited $rc after $(( $(date +%s) - start )) s"
if [ -n "$left" ]; then echo "fresh-test: left in TMPDIR: $left"; [ "$rc" = 0 ] && rc=1; fi
exit "$rc"
