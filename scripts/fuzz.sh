#!/bin/sh
# Runs each fuzz target for FUZZTIME (default 5s): scripts/fuzz.sh PKG:TARGET ...
#
# Go 1.26's fuzz coordinator can report "context deadline exceeded" at the
# -fuzztime boundary on a busy machine without having found anything (a
# race in the toolchain, fixed in Go 1.27, golang/go#75804). A real finding
# always prints "Failing input written to"; so a failure whose output has
# the deadline line and no written input is run once more, and anything
# else fails at once.
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
rc=0
for spec in "$@"; do
	pkg=${spec%%:*}
	target=${spec#*:}
	attempt=1
	while :; do
		out=$($GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1)
		status=$?
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
