package main

import (
	"strings"
	"testing"
)

// good is a small but complete ctiws render: ConfigMap, Deployment, Service, PDB, HPA,
// ServiceMonitor and PrometheusRule.
const good = `
---
# Source: ctiws/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: ctiws
data:
  config.yaml: |
    listen: 0.0.0.0:8181
    drain_timeout: 20s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ctiws
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: t}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: t, extra: "yes"}
    spec:
      terminationGracePeriodSeconds: 40
      securityContext:
        runAsNonRoot: true
      containers:
        - name: ctiws
          image: ghcr.io/ctiws/ctiws:0.1.0
          ports:
            - {name: http, containerPort: 8181}
            - {name: metrics, containerPort: 9464}
          livenessProbe:
            httpGet: {path: /healthz, port: metrics}
          readinessProbe:
            httpGet: {path: /readyz, port: metrics}
          lifecycle:
            preStop:
              sleep: {seconds: 5}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: config, mountPath: /etc/ctiws}
      volumes:
        - name: config
          projected:
            sources:
              - configMap: {name: ctiws}
---
apiVersion: v1
kind: Service
metadata:
  name: ctiws-metrics
  labels: {app.kubernetes.io/name: ctiws, app.kubernetes.io/component: metrics}
spec:
  selector: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: t}
  ports:
    - {name: metrics, port: 9464, targetPort: metrics}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: ctiws
spec:
  minAvailable: 1
  selector:
    matchLabels: {app.kubernetes.io/name: ctiws}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ctiws
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ctiws}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: ctiws
spec:
  selector:
    matchLabels: {app.kubernetes.io/component: metrics}
  endpoints:
    - port: metrics
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: ctiws
spec:
  groups:
    - name: ctiws
      rules:
        - alert: X
          expr: up == 0
`

func check(t *testing.T, manifest string) Result {
	t.Helper()
	res, err := NewChecker().Check(strings.NewReader(manifest))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

func TestGoodManifestPasses(t *testing.T) {
	res := check(t, good)
	if res.Docs != 7 {
		t.Errorf("docs = %d, want 7", res.Docs)
	}
	for _, p := range res.Problems {
		if !p.Note {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	// The HPA's target sets replicas: a note, not an error.
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Msg, "spec.replicas") {
		t.Errorf("want exactly the replicas note, got %v", res.Problems)
	}
}

func TestBrokenManifestsAreRejected(t *testing.T) {
	cases := []struct {
		name    string
		old     string // text of the good manifest to replace
		new     string
		wantMsg string // substring of one problem
	}{
		{"unknown field", "          image: ghcr.io/ctiws/ctiws:0.1.0\n",
			"          image: ghcr.io/ctiws/ctiws:0.1.0\n          imagePullPolicyy: Always\n", `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		{"misplaced field", "  replicas: 2\n", "  replicas: 2\n  terminationGracePeriodSeconds: 40\n", "terminationGracePeriodSeconds"},
		{"wrong type", "  replicas: 2\n", "  replicas: \"2\"\n", "replicas"},
		{"missing readiness probe", "          readinessProbe:\n            httpGet: {path: /readyz, port: metrics}\n", "", "has no readinessProbe"},
		{"missing liveness probe", "          livenessProbe:\n            httpGet: {path: /healthz, port: metrics}\n", "", "has no livenessProbe"},
		{"probe on undeclared port", "httpGet: {path: /readyz, port: metrics}", "httpGet: {path: /readyz, port: admin}", `uses port "admin"`},
		{"unnamed port", "{name: http, containerPort: 8181}", "{containerPort: 8181}", "has no name"},
		{"selector not in pod labels", "matchLabels: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: t}\n  template",
			"matchLabels: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: other}\n  template", "does not match the pod template labels"},
		{"root allowed", "      securityContext:\n        runAsNonRoot: true\n", "", "runAsNonRoot is not true"},
		{"writable root fs", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"caps kept", "capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}", "capabilities.drop"},
		{"grace period below drain", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds 20 < preStop sleep 5s + drain timeout 20s"},
		{"grace period below env drain", "          lifecycle:\n", "          env:\n            - {name: CTIWS_DRAIN_TIMEOUT, value: 2m}\n          lifecycle:\n", "drain timeout 2m0s"},
		{"bad drain timeout", "drain_timeout: 20s", "drain_timeout: soon", `drain_timeout "soon"`},
		{"service targets unknown port", "targetPort: metrics}", "targetPort: prom}", `targetPort "prom"`},
		{"service selects nothing", "selector: {app.kubernetes.io/name: ctiws, app.kubernetes.io/instance: t}\n  ports", "selector: {app.kubernetes.io/name: other}\n  ports", "matches no workload"},
		{"hpa target missing", "kind: Deployment, name: ctiws}", "kind: Deployment, name: nope}", "scaleTargetRef"},
		{"servicemonitor port missing", "    - port: metrics\n", "    - port: web\n", `endpoints[0].port "web"`},
		{"missing name", "kind: PrometheusRule\nmetadata:\n  name: ctiws\n", "kind: PrometheusRule\nmetadata: {}\n", "metadata.name is required"},
		{"invalid yaml", "  minAvailable: 1\n", "  minAvailable: [1\n", "not valid YAML"},
		{"duplicate key", "  minAvailable: 1\n", "  minAvailable: 1\n  minAvailable: 2\n", "not valid YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("test bug: %q not in the good manifest", tc.old)
			}
			res := check(t, strings.Replace(good, tc.old, tc.new, 1))
			if res.Errors() == 0 {
				t.Fatalf("broken manifest accepted; problems: %v", res.Problems)
			}
			var all []string
			for _, p := range res.Problems {
				all = append(all, p.String())
				if !p.Note && strings.Contains(p.Msg, tc.wantMsg) {
					return
				}
			}
			t.Errorf("no error mentions %q; got:\n%s", tc.wantMsg, strings.Join(all, "\n"))
		})
	}
}

// TestSchemaErrorsAllReported checks that one broken document reports the unknown field,
// and the missing probe together (strict decode + SMD + assertions on a lenient decode),
// and that a type error elsewhere does not hide the unknown field.
func TestSchemaErrorsAllReported(t *testing.T) {
	broken := strings.Replace(good, "          image: ghcr.io/ctiws/ctiws:0.1.0\n",
		"          image: ghcr.io/ctiws/ctiws:0.1.0\n          imagePullPolicyy: Always\n", 1)
	broken = strings.Replace(broken, "          livenessProbe:\n            httpGet: {path: /healthz, port: metrics}\n", "", 1)
	text := report(check(t, broken))
	for _, want := range []string{"ERROR: doc 2 (Deployment/ctiws): strict decode", "imagePullPolicyy: field not declared in schema", "containers[ctiws] has no livenessProbe"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}

	broken = strings.Replace(broken, "      terminationGracePeriodSeconds: 40\n", "      terminationGracePeriodSeconds: forty\n", 1)
	res := check(t, broken)
	text = report(res)
	for _, want := range []string{"imagePullPolicyy", "terminationGracePeriodSeconds: expected numeric"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	// The Service, PDB, HPA no longer find the undecodable Deployment: notes, not errors.
	if got := res.Errors(); got != 2 {
		t.Errorf("errors = %d, want 2 (strict decode + schema):\n%s", got, text)
	}
}

func report(res Result) string {
	text := ""
	for _, p := range res.Problems {
		text += p.String() + "\n"
	}
	return text
}

func TestUnknownKindIsANoteOnly(t *testing.T) {
	res := check(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n")
	if res.Errors() != 0 || len(res.Problems) != 1 || !res.Problems[0].Note {
		t.Fatalf("want one note, got %v", res.Problems)
	}
}

func TestEmptyInputFails(t *testing.T) {
	res := check(t, "---\n# only a comment\n---\n")
	if res.Errors() == 0 {
		t.Fatal("empty render accepted")
	}
}

func TestDefaultDrainTimeoutApplies(t *testing.T) {
	// Without a config drain_timeout, ctiws defaults to 10s: 5s preStop + 10s > 12s.
	m := strings.Replace(good, "    drain_timeout: 20s\n", "", 1)
	m = strings.Replace(m, "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 12", 1)
	res := check(t, m)
	if res.Errors() != 1 || !strings.Contains(res.Problems[0].Msg, "drain timeout 10s") {
		t.Fatalf("want the default drain timeout error, got %v", res.Problems)
	}
}
