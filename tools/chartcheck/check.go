package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// defaultDrainTimeout is ctiws's drain_timeout when neither the config file nor
// CTIWS_DRAIN_TIMEOUT sets one.
const defaultDrainTimeout = 10 * time.Second

// crdKinds are custom resources the chart may render. client-go has no schema for them, so
// only their envelope (apiVersion, kind, metadata.name, spec) is checked.
var crdKinds = map[string]bool{
	"monitoring.coreos.com/ServiceMonitor": true,
	"monitoring.coreos.com/PodMonitor":     true,
	"monitoring.coreos.com/PrometheusRule": true,
}

// Problem is one finding about one document of a rendered manifest set.
type Problem struct {
	Doc  int    // 1-based index of the document in the input
	Ref  string // Kind/name, or "" when the document could not be identified
	Msg  string
	Note bool // informational only, does not fail the check
}

func (p Problem) String() string {
	level := "ERROR"
	if p.Note {
		level = "note"
	}
	if p.Ref == "" {
		return fmt.Sprintf("%s: doc %d: %s", level, p.Doc, p.Msg)
	}
	return fmt.Sprintf("%s: doc %d (%s): %s", level, p.Doc, p.Ref, p.Msg)
}

// Result of checking one manifest set (one `helm template` output).
type Result struct {
	Docs     int
	Problems []Problem
}

// Errors counts the problems that fail the check.
func (r Result) Errors() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Note {
			n++
		}
	}
	return n
}

type object struct {
	doc   int
	ref   string
	gvk   schema.GroupVersionKind
	name  string
	raw   map[string]any
	typed runtime.Object // nil for kinds client-go does not know
	// undecodable: a known kind that did not decode (type errors); its relations are unknown.
	undecodable bool
}

// Checker validates rendered manifests offline with client-go's scheme and schemas.
type Checker struct {
	decoder runtime.Decoder
	lenient runtime.Decoder // ignores unknown fields, so the assertions still run
	tc      managedfields.TypeConverter
}

// NewChecker builds a Checker; it is safe to reuse.
func NewChecker() *Checker {
	codecs := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)
	return &Checker{
		decoder: codecs.UniversalDeserializer(),
		lenient: serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer(),
		tc:      applyconfigurations.NewTypeConverter(scheme.Scheme),
	}
}

// Check validates every document of a multi-document YAML stream, then the relations
// between them (selectors, named ports, drain timeout).
func (c *Checker) Check(r io.Reader) (Result, error) {
	var res Result
	var objs []*object
	add := func(doc int, ref, format string, args ...any) {
		res.Problems = append(res.Problems, Problem{Doc: doc, Ref: ref, Msg: fmt.Sprintf(format, args...)})
	}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		chunk, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("reading document %d: %w", doc, err)
		}
		if isEmptyDoc(chunk) {
			doc--
			continue
		}
		res.Docs++
		o, probs := c.checkDoc(doc, chunk)
		res.Problems = append(res.Problems, probs...)
		if o != nil {
			objs = append(objs, o)
		}
	}
	if res.Docs == 0 {
		add(0, "", "no documents")
	}
	res.Problems = append(res.Problems, crossCheck(objs)...)
	return res, nil
}

func isEmptyDoc(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}

func (c *Checker) checkDoc(doc int, chunk []byte) (*object, []Problem) {
	var probs []Problem
	add := func(ref, format string, args ...any) {
		probs = append(probs, Problem{Doc: doc, Ref: ref, Msg: fmt.Sprintf(format, args...)})
	}
	js, err := yaml.YAMLToJSONStrict(chunk)
	if err != nil {
		add("", "not valid YAML: %v", err)
		return nil, probs
	}
	var raw map[string]any
	if err := yaml.Unmarshal(js, &raw); err != nil || raw == nil {
		add("", "document is not a YAML mapping")
		return nil, probs
	}
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	name, _, _ := unstructured.NestedString(raw, "metadata", "name")
	ref := kind + "/" + name
	if apiVersion == "" || kind == "" {
		add(ref, "apiVersion and kind are required")
		return nil, probs
	}
	if name == "" {
		add(ref, "metadata.name is required")
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		add(ref, "bad apiVersion %q: %v", apiVersion, err)
		return nil, probs
	}
	o := &object{doc: doc, ref: ref, gvk: gv.WithKind(kind), name: name, raw: raw}

	if !scheme.Scheme.Recognizes(o.gvk) {
		if crdKinds[gv.Group+"/"+kind] {
			if _, ok := raw["spec"].(map[string]any); !ok {
				add(ref, "custom resource without a spec mapping")
			}
		} else {
			probs = append(probs, Problem{Doc: doc, Ref: ref, Note: true,
				Msg: fmt.Sprintf("%s is unknown to client-go; only parsed, not validated", o.gvk)})
		}
		return o, probs
	}

	// B: strict decoding lists every unknown or duplicated field and type errors.
	typed, _, err := c.decoder.Decode(js, nil, nil)
	if err != nil {
		add(ref, "strict decode: %v", err)
		if typed, _, err = c.lenient.Decode(js, nil, nil); err != nil {
			o.undecodable = true
		} else {
			o.typed = typed
		}
	} else {
		o.typed = typed
	}
	// C: structured-merge-diff validation against client-go's embedded OpenAPI schema.
	if _, err := c.tc.ObjectToTyped(&unstructured.Unstructured{Object: raw}); err != nil {
		add(ref, "schema: %v", err)
	}
	if o.typed != nil {
		for _, m := range checkObject(o.typed) {
			add(ref, "%s", m)
		}
	}
	return o, probs
}

// podTemplate returns the pod template of a workload, or nil.
func podTemplate(obj runtime.Object) (*metav1.LabelSelector, *corev1.PodTemplateSpec) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return w.Spec.Selector, &w.Spec.Template
	case *appsv1.StatefulSet:
		return w.Spec.Selector, &w.Spec.Template
	case *appsv1.DaemonSet:
		return w.Spec.Selector, &w.Spec.Template
	case *appsv1.ReplicaSet:
		return w.Spec.Selector, &w.Spec.Template
	}
	return nil, nil
}

// checkObject holds the per-object rules that schemas cannot express.
func checkObject(obj runtime.Object) []string {
	var out []string
	sel, tmpl := podTemplate(obj)
	if tmpl != nil {
		if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
			out = append(out, "spec.selector is empty")
		} else if s, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			out = append(out, fmt.Sprintf("spec.selector: %v", err))
		} else if !s.Matches(labels.Set(tmpl.Labels)) {
			out = append(out, fmt.Sprintf("spec.selector %v does not match the pod template labels %v", s, tmpl.Labels))
		}
		out = append(out, checkPodSpec(&tmpl.Spec)...)
	}
	switch o := obj.(type) {
	case *corev1.Service:
		if o.Spec.Type != corev1.ServiceTypeExternalName && len(o.Spec.Selector) == 0 {
			out = append(out, "service has no selector")
		}
		for i, p := range o.Spec.Ports {
			if p.Name == "" {
				out = append(out, fmt.Sprintf("spec.ports[%d] has no name", i))
			}
		}
	case *policyv1.PodDisruptionBudget:
		if o.Spec.MinAvailable != nil && o.Spec.MaxUnavailable != nil {
			out = append(out, "minAvailable and maxUnavailable are both set")
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas > o.Spec.MaxReplicas {
			out = append(out, fmt.Sprintf("minReplicas %d > maxReplicas %d", *o.Spec.MinReplicas, o.Spec.MaxReplicas))
		}
	}
	return out
}

func checkPodSpec(spec *corev1.PodSpec) []string {
	var out []string
	podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
	check := func(path string, c *corev1.Container, init bool) {
		ports := map[string]bool{}
		for i, p := range c.Ports {
			if p.Name == "" {
				out = append(out, fmt.Sprintf("%s.ports[%d] (%d) has no name", path, i, p.ContainerPort))
			}
			ports[p.Name] = true
		}
		if !init {
			if c.LivenessProbe == nil {
				out = append(out, path+" has no livenessProbe")
			}
			if c.ReadinessProbe == nil {
				out = append(out, path+" has no readinessProbe")
			}
		}
		for what, pr := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
			if pr == nil {
				continue
			}
			var port *intstr.IntOrString
			if pr.HTTPGet != nil {
				port = &pr.HTTPGet.Port
			} else if pr.TCPSocket != nil {
				port = &pr.TCPSocket.Port
			} else if pr.Exec == nil && pr.GRPC == nil {
				out = append(out, fmt.Sprintf("%s.%s has no handler", path, what))
			}
			if port != nil && port.Type == intstr.String && !ports[port.StrVal] {
				out = append(out, fmt.Sprintf("%s.%s uses port %q that the container does not declare", path, what, port.StrVal))
			}
		}
		sc := c.SecurityContext
		nonRoot := podNonRoot
		if sc != nil && sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if !nonRoot {
			out = append(out, path+": runAsNonRoot is not true (container or pod securityContext)")
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			out = append(out, path+": securityContext.readOnlyRootFilesystem is not true")
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, path+": securityContext.allowPrivilegeEscalation is not false")
		}
		if sc == nil || sc.Capabilities == nil || !hasALL(sc.Capabilities.Drop) {
			out = append(out, path+": securityContext.capabilities.drop does not contain ALL")
		}
		if c.Resources.Requests == nil && c.Resources.Limits == nil {
			out = append(out, path+" has no resources")
		}
	}
	for i := range spec.InitContainers {
		check(fmt.Sprintf("initContainers[%s]", spec.InitContainers[i].Name), &spec.InitContainers[i], true)
	}
	for i := range spec.Containers {
		check(fmt.Sprintf("containers[%s]", spec.Containers[i].Name), &spec.Containers[i], false)
	}
	return out
}

func hasALL(caps []corev1.Capability) bool {
	for _, c := range caps {
		if c == "ALL" {
			return true
		}
	}
	return false
}

// crossCheck verifies relations between the documents of one render.
func crossCheck(objs []*object) []Problem {
	var probs []Problem
	add := func(o *object, format string, args ...any) {
		probs = append(probs, Problem{Doc: o.doc, Ref: o.ref, Msg: fmt.Sprintf(format, args...)})
	}
	// When a document did not decode, "matches nothing" may only be a consequence of it:
	// report those findings as notes.
	partial := false
	for _, o := range objs {
		partial = partial || o.undecodable
	}
	addRel := func(o *object, format string, args ...any) {
		probs = append(probs, Problem{Doc: o.doc, Ref: o.ref, Note: partial, Msg: fmt.Sprintf(format, args...)})
	}
	type workload struct {
		o    *object
		tmpl *corev1.PodTemplateSpec
	}
	var workloads []workload
	configMaps := map[string]*corev1.ConfigMap{}
	services := map[string]*object{}
	for _, o := range objs {
		if _, t := podTemplate(o.typed); t != nil {
			workloads = append(workloads, workload{o, t})
		}
		switch v := o.typed.(type) {
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		case *corev1.Service:
			services[v.Name] = o
		}
	}
	matching := func(sel labels.Selector) []workload {
		var out []workload
		for _, w := range workloads {
			if sel.Matches(labels.Set(w.tmpl.Labels)) {
				out = append(out, w)
			}
		}
		return out
	}

	for _, w := range workloads {
		if err := checkGracePeriod(w.tmpl, configMaps); err != "" {
			add(w.o, "%s", err)
		}
	}

	for _, o := range objs {
		switch v := o.typed.(type) {
		case *corev1.Service:
			if len(v.Spec.Selector) == 0 {
				continue
			}
			ws := matching(labels.SelectorFromSet(v.Spec.Selector))
			if len(ws) == 0 {
				addRel(o, "selector %v matches no workload in this render", v.Spec.Selector)
				continue
			}
			for _, p := range v.Spec.Ports {
				if p.TargetPort.Type != intstr.String {
					continue
				}
				for _, w := range ws {
					if !podHasPort(w.tmpl, p.TargetPort.StrVal) {
						add(o, "targetPort %q is not a container port of %s", p.TargetPort.StrVal, w.o.ref)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			if s, err := metav1.LabelSelectorAsSelector(v.Spec.Selector); err != nil || v.Spec.Selector == nil {
				add(o, "bad or missing selector")
			} else if len(matching(s)) == 0 {
				addRel(o, "selector matches no workload in this render")
			}
		case *networkingv1.NetworkPolicy:
			if s, err := metav1.LabelSelectorAsSelector(&v.Spec.PodSelector); err != nil {
				add(o, "podSelector: %v", err)
			} else if len(matching(s)) == 0 {
				addRel(o, "podSelector matches no workload in this render")
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			found := false
			for _, w := range workloads {
				if w.o.gvk.Kind == v.Spec.ScaleTargetRef.Kind && w.o.name == v.Spec.ScaleTargetRef.Name {
					found = true
					if d, ok := w.o.typed.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
						probs = append(probs, Problem{Doc: o.doc, Ref: o.ref, Note: true,
							Msg: "the target also sets spec.replicas; every upgrade resets the HPA's scale"})
					}
				}
			}
			if !found {
				addRel(o, "scaleTargetRef %s/%s is not in this render", v.Spec.ScaleTargetRef.Kind, v.Spec.ScaleTargetRef.Name)
			}
		case *networkingv1.Ingress:
			for _, rule := range v.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					if p.Backend.Service == nil {
						continue
					}
					svc, ok := services[p.Backend.Service.Name]
					if !ok {
						addRel(o, "backend service %q is not in this render", p.Backend.Service.Name)
						continue
					}
					if pn := p.Backend.Service.Port.Name; pn != "" && !serviceHasPort(svc.typed.(*corev1.Service), pn) {
						add(o, "backend port %q is not a port of service %s", pn, svc.name)
					}
				}
			}
		}
		if o.gvk.Group == "monitoring.coreos.com" && o.gvk.Kind == "ServiceMonitor" {
			probs = append(probs, checkServiceMonitor(o, services, partial)...)
		}
	}
	return probs
}

func podHasPort(t *corev1.PodTemplateSpec, name string) bool {
	for _, c := range t.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func serviceHasPort(s *corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func checkServiceMonitor(o *object, services map[string]*object, partial bool) []Problem {
	var probs []Problem
	add := func(format string, args ...any) {
		probs = append(probs, Problem{Doc: o.doc, Ref: o.ref, Msg: fmt.Sprintf(format, args...)})
	}
	ml, _, err := unstructured.NestedStringMap(o.raw, "spec", "selector", "matchLabels")
	if err != nil || len(ml) == 0 {
		add("spec.selector.matchLabels missing or not a string map")
		return probs
	}
	eps, _, _ := unstructured.NestedSlice(o.raw, "spec", "endpoints")
	if len(eps) == 0 {
		add("spec.endpoints is empty")
	}
	sel := labels.SelectorFromSet(ml)
	var names []string
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var matched []*corev1.Service
	for _, n := range names {
		s := services[n].typed.(*corev1.Service)
		if sel.Matches(labels.Set(s.Labels)) {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		probs = append(probs, Problem{Doc: o.doc, Ref: o.ref, Note: partial, Msg: fmt.Sprintf("selector %v matches no Service in this render", ml)})
		return probs
	}
	for i, e := range eps {
		em, _ := e.(map[string]any)
		port, _ := em["port"].(string)
		if port == "" {
			continue
		}
		for _, s := range matched {
			if !serviceHasPort(s, port) {
				add("endpoints[%d].port %q is not a port of service %s", i, port, s.Name)
			}
		}
	}
	return probs
}

// checkGracePeriod makes sure ctiws pods get at least preStop sleep + drain_timeout to stop.
// It applies to pods that mount a ConfigMap holding a config.yaml with drain_timeout, set
// CTIWS_DRAIN_TIMEOUT, or have a container named ctiws (default drain timeout).
func checkGracePeriod(t *corev1.PodTemplateSpec, cms map[string]*corev1.ConfigMap) string {
	var drain time.Duration
	found := false
	for _, v := range t.Spec.Volumes {
		var names []string
		if v.ConfigMap != nil {
			names = append(names, v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					names = append(names, s.ConfigMap.Name)
				}
			}
		}
		for _, n := range names {
			cm, ok := cms[n]
			if !ok {
				continue
			}
			cfg, ok := cm.Data["config.yaml"]
			if !ok {
				continue
			}
			var c struct {
				DrainTimeout *string `json:"drain_timeout"`
			}
			if err := yaml.Unmarshal([]byte(cfg), &c); err != nil {
				return fmt.Sprintf("ConfigMap %s: config.yaml does not parse: %v", n, err)
			}
			if c.DrainTimeout != nil {
				d, err := time.ParseDuration(*c.DrainTimeout)
				if err != nil {
					return fmt.Sprintf("ConfigMap %s: drain_timeout %q: %v", n, *c.DrainTimeout, err)
				}
				drain, found = d, true
			}
		}
	}
	ctiws := found
	var preStop int64
	for _, c := range t.Spec.Containers {
		if c.Name == "ctiws" {
			ctiws = true
		}
		for _, e := range c.Env {
			if e.Name == "CTIWS_DRAIN_TIMEOUT" && e.Value != "" {
				d, err := time.ParseDuration(e.Value)
				if err != nil {
					return fmt.Sprintf("containers[%s] env CTIWS_DRAIN_TIMEOUT %q: %v", c.Name, e.Value, err)
				}
				drain, found, ctiws = d, true, true
			}
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = max(preStop, c.Lifecycle.PreStop.Sleep.Seconds)
		}
	}
	if !ctiws {
		return ""
	}
	if !found {
		drain = defaultDrainTimeout
	}
	need := preStop + int64((drain+time.Second-1)/time.Second)
	if t.Spec.TerminationGracePeriodSeconds == nil {
		if need > 30 {
			return fmt.Sprintf("terminationGracePeriodSeconds is unset (30) but preStop sleep + drain timeout need %ds", need)
		}
		return ""
	}
	if got := *t.Spec.TerminationGracePeriodSeconds; got < need {
		return fmt.Sprintf("terminationGracePeriodSeconds %d < preStop sleep %ds + drain timeout %s", got, preStop, drain)
	}
	return ""
}

// CheckBytes is Check on an in-memory manifest set.
func (c *Checker) CheckBytes(b []byte) (Result, error) {
	return c.Check(bytes.NewReader(b))
}
