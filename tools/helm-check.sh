#!/usr/bin/env bash
# Lints, renders and validates the Helm chart helm/ctiws offline.
#
#   bash tools/helm-check.sh            # from anywhere; exit status 0 = all checks passed
#
# helm (v3.22.0) and the validator tools/chartcheck come from the separate Go module in
# tools/ (tools/go.mod), so the service's go.mod never sees Kubernetes or Helm. The first run
# compiles helm (about 2 minutes on a cold build cache); later runs take a few seconds
# because `go tool` and `go run` cache the executables.
#
# Environment: KUBE_VERSION (default 1.30.0) is the Kubernetes version passed to helm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHART="$ROOT/helm/ctiws"
KUBE_VERSION=${KUBE_VERSION:-1.30.0}
export GOWORK=off

WORK=$(mktemp -d "${TMPDIR:-/tmp}/helm-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

HELM=""
helm() { "$HELM" "$@"; }
chartcheck() { "$WORK/chartcheck" "$@"; }

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL  $1"
	sed 's/^/      /' "$WORK/log"
}

# expect_ok NAME CMD...: the command must succeed.
expect_ok() {
	local name=$1
	shift
	if "$@" >"$WORK/log" 2>&1; then ok "$name"; else bad "$name"; fi
}

# expect_fail NAME PATTERN CMD...: the command must fail and print PATTERN (grep -E).
expect_fail() {
	local name=$1 pattern=$2
	shift 2
	if "$@" >"$WORK/log" 2>&1; then
		echo "(the command succeeded but must fail)" >>"$WORK/log"
		bad "$name"
	elif grep -Eq -- "$pattern" "$WORK/log"; then
		ok "$name"
	else
		echo "(output does not match: $pattern)" >>"$WORK/log"
		bad "$name"
	fi
}

# Build helm and the validator first, so that compile errors are reported once, clearly.
# `go tool` caches the helm executable in the build cache; `go tool -n` prints its path.
start=$SECONDS
if ! (cd "$ROOT/tools" && go tool helm version --short && go build -o "$WORK/chartcheck" ./chartcheck) >"$WORK/log" 2>&1 ||
	! HELM=$(cd "$ROOT/tools" && go tool -n helm) || [ ! -x "$HELM" ]; then
	bad "build helm and chartcheck"
	echo "helm-check: $passed passed, $failed failed"
	exit 1
fi
echo "      (tools ready in $((SECONDS - start)) s)"

rendered=()
for values in "$CHART"/ci/*.yaml; do
	name=$(basename "$values" .yaml)
	expect_ok "lint --strict $name" helm lint --strict --kube-version "$KUBE_VERSION" "$CHART" -f "$values"
	out="$WORK/$name.yaml"
	if helm template ctiws "$CHART" --namespace cti --kube-version "$KUBE_VERSION" -f "$values" >"$out" 2>"$WORK/log"; then
		ok "template $name"
		rendered+=("$out")
	else
		bad "template $name"
	fi
done

# Plain `helm template` (no --kube-version): this helm assumes Kubernetes 1.20 without a
# cluster, which Chart.yaml's kubeVersion must accept.
out="$WORK/default-no-kube-version.yaml"
if helm template ctiws "$CHART" >"$out" 2>"$WORK/log"; then
	ok "template default without --kube-version"
	rendered+=("$out")
else
	bad "template default without --kube-version"
fi

# The PrometheusRule selects the release's series by the ServiceMonitor's labels unless
# prometheusRule.selector is set: without either, CtiwsDown would fire forever.
expect_fail "template refuses prometheusRule without serviceMonitor or selector" "prometheusRule.selector" \
	helm template ctiws "$CHART" --kube-version "$KUBE_VERSION" --set prometheusRule.enabled=true
out="$WORK/rule-with-selector.yaml"
if helm template ctiws "$CHART" --kube-version "$KUBE_VERSION" --set prometheusRule.enabled=true \
	--set-string 'prometheusRule.selector=job="ctiws"' >"$out" 2>"$WORK/log" &&
	grep -q 'absent(up{job="ctiws"})' "$out" && ! grep -q 'service="ctiws-metrics"' "$out"; then
	ok "template prometheusRule with a selector (no ServiceMonitor)"
	rendered+=("$out")
else
	grep -n 'expr:' "$out" >>"$WORK/log" 2>/dev/null || true
	bad "template prometheusRule with a selector (no ServiceMonitor)"
fi
if grep -Eq 'absent\(up\{namespace="cti",service="[^"]+-metrics"\}\)' "$WORK/full-values.yaml" 2>/dev/null &&
	grep -q 'ctiws_redis_sequence_gaps_total' "$WORK/full-values.yaml"; then
	ok "full-values rule selects the ServiceMonitor's service and the real gap counter"
else
	grep -n 'expr:' "$WORK/full-values.yaml" >"$WORK/log" 2>&1 || true
	bad "full-values rule selects the ServiceMonitor's service and the real gap counter"
fi

# Older clusters get no native preStop sleep action; the render must still be valid.
out="$WORK/default-kube-1.25.yaml"
if helm template ctiws "$CHART" --kube-version 1.25.0 >"$out" 2>"$WORK/log" && ! grep -q 'sleep:' "$out"; then
	ok "template default on Kubernetes 1.25 (no sleep action)"
	rendered+=("$out")
else
	bad "template default on Kubernetes 1.25 (no sleep action)"
fi

# Values the schema or the templates must refuse.
T=(template ctiws "$CHART" --kube-version "$KUBE_VERSION")
expect_fail "schema rejects replicaCount=abc (lint)" "replicaCount" helm lint --strict --kube-version "$KUBE_VERSION" "$CHART" --set replicaCount=abc
expect_fail "schema rejects replicaCount=abc (template)" "replicaCount" helm "${T[@]}" --set replicaCount=abc
expect_fail "schema rejects replicaCount=0" "replicaCount" helm "${T[@]}" --set replicaCount=0
expect_fail "schema rejects drainTimeout=10 (no unit)" "drainTimeout" helm "${T[@]}" --set config.drainTimeout=10
expect_fail "schema rejects a tenant without id" "id" helm "${T[@]}" --set-json 'tenants=[{"hosts":["a.example.com"]}]'
expect_fail "schema rejects an unknown value" "additional properties|additionalProperties|not allowed" helm "${T[@]}" --set replicaCont=2
expect_fail "schema rejects service.type=Foo" "service" helm "${T[@]}" --set service.type=Foo
expect_fail "template refuses 3 replicas without Redis" "needs Redis" helm "${T[@]}" --set replicaCount=3
expect_fail "template refuses redis.sentinel with redis.cluster" "both set" helm "${T[@]}" --set redis.sentinel.masterName=m --set-json 'redis.sentinel.addresses=["s:26379"]' --set-json 'redis.cluster.nodes=["c:6379"]'
expect_fail "schema rejects a cluster node without port" "nodes" helm "${T[@]}" --set-json 'redis.cluster.nodes=["c"]'
expect_fail "template refuses a short terminationGracePeriodSeconds" "terminationGracePeriodSeconds" helm "${T[@]}" --set terminationGracePeriodSeconds=5
expect_fail "schema rejects a short jwtSecret" "jwtSecret" helm "${T[@]}" --set-json 'tenants=[{"id":"a","ami":{"address":"sim"},"auth":{"enabled":true,"jwtSecret":"x"}}]'
expect_fail "schema rejects a short jwtSecretPrevious" "jwtSecretPrevious" helm "${T[@]}" --set-json 'tenants=[{"id":"a","ami":{"address":"sim"},"auth":{"enabled":true,"jwtSecret":"0123456789abcdef","jwtSecretPrevious":"old"}}]'
expect_fail "schema rejects a tenant id with a dot" "id" helm "${T[@]}" --set-json 'tenants=[{"id":"a.b","ami":{"address":"sim"}}]'
expect_fail "template refuses a host used by two tenants" "used by tenants" helm "${T[@]}" --set-json 'tenants=[{"id":"a","hosts":["h"],"ami":{"address":"sim"},"auth":{"enabled":false}},{"id":"b","hosts":["H"],"ami":{"address":"sim"},"auth":{"enabled":false}}]'
expect_fail "template refuses no tenants without tenantsDir" "at least one tenant" helm "${T[@]}" --set-json 'tenants=[]'
expect_fail "template refuses a tenant without AMI secret" "ami.secret is required" helm "${T[@]}" --set-json 'tenants=[{"id":"a","ami":{"address":"10.0.0.1:5038","username":"u"}}]'
expect_fail "template refuses the console without users" "console.htpasswd" helm "${T[@]}" --set console.enabled=true
expect_fail "template refuses a short console session secret" "sessionSecret" helm "${T[@]}" --set console.enabled=true --set console.htpasswd=a:b --set console.sessionSecret=short
expect_fail "template refuses the console ingress without a host" "console.ingress.host" helm "${T[@]}" --set console.enabled=true --set console.htpasswd=a:b --set console.ingress.enabled=true
expect_fail "schema rejects console.auditMax=1" "auditMax" helm "${T[@]}" --set console.auditMax=1

# The rendered manifests: strict decode + schema + chart assertions.
if [ ${#rendered[@]} -gt 0 ]; then
	expect_ok "chartcheck ${#rendered[@]} renders" chartcheck -q "${rendered[@]}"
fi

# chartcheck itself must reject a broken render (unknown field, wrong type, missing probe).
broken="$WORK/broken.yaml"
sed -e 's/^\(  *\)imagePullPolicy: \(.*\)$/\1imagePullPolicyy: \2/' \
	-e 's/^\(  *\)port: 8181$/\1port: "eighty"/' \
	-e '/^ *readinessProbe:$/,/^ *timeoutSeconds:/d' \
	"$WORK/full-values.yaml" >"$broken"
expect_fail "chartcheck rejects a broken render" "imagePullPolicyy" chartcheck "$broken"
if [ -s "$WORK/log" ]; then
	for want in imagePullPolicyy 'Service/cti\).*port' 'has no readinessProbe'; do
		if ! grep -Eq -- "$want" "$WORK/log"; then
			echo "(chartcheck did not report: $want)" >>"$WORK/log"
			bad "chartcheck reports $want"
		fi
	done
fi

expect_ok "go test ./chartcheck" bash -c "cd '$ROOT/tools' && go test -count=1 ./chartcheck"

echo "helm-check: $passed passed, $failed failed ($((SECONDS - start)) s)"
[ "$failed" -eq 0 ]
