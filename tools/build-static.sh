#!/usr/bin/env bash
# Builds the static ctiws binary (no cgo, no libc), as shipped in the container image.
#
#   tools/build-static.sh OUT_PATH          e.g. tools/build-static.sh bin/ctiws
#
# VERSION (default: `git describe`, else "dev") is stamped into main.version.
# GOOS/GOARCH may be set for cross builds. Runs from anywhere inside the repository.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUT_PATH" >&2
	exit 2
fi
OUT=$1
case "$OUT" in
/*) ;;
*) OUT="$PWD/$OUT" ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || true)
	VERSION=${VERSION:-dev}
fi
# The version lands inside -ldflags: refuse characters that would split or quote it.
if ! [[ "$VERSION" =~ ^[A-Za-z0-9._+-]+$ ]]; then
	echo "build-static: bad VERSION '$VERSION' (allowed: letters, digits, . _ + -)" >&2
	exit 2
fi

mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$OUT" ./cmd/ctiws
echo "build-static: $OUT ($VERSION)"
