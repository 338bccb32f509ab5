#!/bin/sh
# Runs each fuzz target for FUZZTIME (default 5s): scripts/fuzz.sh PKG:TARGET ...
#
# Go 1.26's fuzz coordinator can report "context deadline exceeded" at the
# -fuzztime boundary on a busy machine without having found anything (a
# race in the toolchain, fixed in Go 1.27, golang/go#75804). A real finding
# always prints "Failing input written to"; so a failure whose output has
# the deadline line and no written input is run once more, and anything
# else fails at once.
#
# Each target runs with a TMPDIR of its own, removed afterwards: the fuzz
# coordinator stops its workers at the -fuzztime boundary without running
# their cleanups, so a target's F.TempDir (FuzzRESTToAMI writes a node's
# configuration there) would otherwise be left in the caller's TMPDIR.
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
rc=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for spec in "$@"; do
	pkg=${spec%%:*}
	target=${spec#*:}
	attempt=1
	while :; do
		mkdir -p "$tmp/run" || exit 1
		out=$(TMPDIR="$tmp/run" $GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1)
		status=$?
		rm -rf "$tmp/run"
		printf '%s\n' "$out"
		[ $status -eq 0 ] && break
		if [ $attempt -eq 1 ] &&
			printf '%s\n' "$out" | grep -q 'context deadline exceeded' &&
			! printf '%s\n' "$out" | grep -q 'Failing input written to'; then
			echo "fuzz: $target: the toolchain's fuzztime-deadline race (no input found); running it once more"
			attempt=2
			continue
		fi
		echo "fuzz: $target FAILED"
		rc=1
		break
	done
done
exit $rc
