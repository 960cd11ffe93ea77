// Package helm_test checks the Helm chart in deploy/helm/jan: helm lint, and
// helm template for the default values and each example, every rendered
// object decoded strictly (unknown or duplicate fields fail, as the API
// server's strict field validation would) into its k8s.io/api type, and the
// properties jan's operation depends on asserted on those objects.
//
// Helm is the pinned Go tool of tools/go.mod (go tool -modfile=tools/go.mod
// helm); its first build takes minutes. When it cannot be built the tests
// skip, except with CI=true, where they fail.
package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	chart "github.com/janhq/jan/deploy/helm"
	"github.com/janhq/jan/internal/deploy"
)

const (
	chartDir    = "deploy/helm/jan"
	examplesDir = "deploy/helm/examples"
	release     = "jan"
	namespace   = "jan"
	janUID      = 65532
	gpuResource = corev1.ResourceName("nvidia.com/gpu")
)

// valueSets are the values the chart is linted and rendered with: the
// defaults and each example file (relative to the repository root).
var valueSets = []struct{ name, file string }{
	{"default", ""},
	{"production", examplesDir + "/production.yaml"},
	{"gpu-vllm", examplesDir + "/gpu-vllm.yaml"},
}

// ---------------------------------------------------------------------------
// Running helm.

var (
	helmOnce  sync.Once
	helmErr   error  // helm cannot be built or run
	inputsErr error  // the chart's files cannot be read
	helmHome  string // HELM_CONFIG_HOME, HELM_CACHE_HOME and HELM_DATA_HOME go below
	repoDir   string // the repository root
)

// root is the repository root (the main module's), two levels above this
// package.
func root(t *testing.T) string {
	t.Helper()
	if repoDir == "" {
		t.Fatal("no repository root")
	}
	return repoDir
}

// ci reports whether the tests run in CI, where a helm that cannot be built
// fails them instead of skipping.
func ci() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// TestMain finds the repository root and gives helm its own empty
// configuration, cache and data homes, so that nothing of the user's Helm
// setup is read or written.
func TestMain(m *testing.M) {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, chartDir, "Chart.yaml"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "repository root:", err)
		os.Exit(1)
	}
	repoDir = dir
	if helmHome, err = os.MkdirTemp("", "jan-helm-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(helmHome)
	os.Exit(code)
}

// readInputs reads every file helm's runs depend on, so that go test's
// cache sees them (helm, a subprocess, reads them unseen; a changed chart
// must not pass from the cache). It must run inside a test: reads in
// TestMain before m.Run are not recorded.
func readInputs(dir string) error {
	for _, f := range []string{"go.mod", "tools/go.mod", "tools/go.sum", chartDir + "/Chart.yaml"} {
		if _, err := os.ReadFile(filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	for _, d := range []string{chartDir, examplesDir} {
		err := filepath.WalkDir(filepath.Join(dir, d), func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				_, err = os.ReadDir(p)
			} else {
				_, err = os.ReadFile(p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runHelm runs `go tool -modfile=tools/go.mod helm ARGS…` in the repository
// root and returns its standard output, or an error with its standard error.
func runHelm(ctx context.Context, dir string, args ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, append([]string{"tool", "-modfile=tools/go.mod", "helm"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
		"KUBECONFIG="+filepath.Join(helmHome, "no-kubeconfig"),
		"HELM_NAMESPACE="+namespace,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// helm runs helm with args, building it first if need be (once per test
// binary); a helm that cannot be built skips the test, or fails it in CI.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	dir := root(t)
	helmOnce.Do(func() {
		if inputsErr = readInputs(dir); inputsErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		var out string
		out, helmErr = runHelm(ctx, dir, "version", "--short")
		if helmErr == nil {
			t.Logf("helm %s (built or found in the cache in %s)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
		}
	})
	if inputsErr != nil {
		t.Fatalf("the chart's files: %v", inputsErr)
	}
	if helmErr != nil {
		if ci() {
			t.Fatalf("CI=true and the helm tool cannot be built or run: %v", helmErr)
		}
		t.Skipf("the helm tool cannot be built or run (set CI=true to fail instead): %v", helmErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runHelm(ctx, dir, args...)
}

func templateArgs(valuesFile string, extra ...string) []string {
	args := []string{"template", release, chartDir, "--namespace", namespace}
	if valuesFile != "" {
		args = append(args, "--values", valuesFile)
	}
	return append(args, extra...)
}

// ---------------------------------------------------------------------------
// Decoding.

// kinds are the objects the chart may render, by apiVersion/kind, each
// decoded into its k8s.io/api type. Anything else fails the test.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/PersistentVolumeClaim":               func() any { return &corev1.PersistentVolumeClaim{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
}

// manifest is what one helm template run rendered, by type.
type manifest struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	accounts    []*corev1.ServiceAccount
	claims      []*corev1.PersistentVolumeClaim
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	ingresses   []*networkingv1.Ingress
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits helm's output into documents and decodes each strictly by
// its kind; any document that does not decode fails the test.
func decode(t *testing.T, out string) *manifest {
	t.Helper()
	m, errs := decodeManifest(out)
	for _, err := range errs {
		t.Error(err)
	}
	if m == nil {
		t.Fatalf("helm template rendered no object:\n%s", out)
	}
	return m
}

// decodeManifest decodes every document of out into its k8s.io/api type:
// duplicate keys, unknown fields (matched case-sensitively, as the API
// server does), unknown kinds and Secrets are errors. m is nil when no
// document holds an object.
func decodeManifest(out string) (m *manifest, errs []error) {
	m = &manifest{}
	seen := map[string]bool{}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for i, doc := range docSeparator.Split(out, -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			fail("document %d: %v\n%s", i, err, doc)
			continue
		}
		if s := string(bytes.TrimSpace(j)); s == "null" || s == "" {
			continue // only comments
		}
		var tm metav1.TypeMeta
		if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
			fail("document %d: %v\n%s", i, err, doc)
			continue
		}
		gvk := tm.APIVersion + "/" + tm.Kind
		if tm.Kind == "Secret" {
			fail("document %d renders a Secret: the chart must only refer to Secrets that exist\n%s", i, doc)
			continue
		}
		newObj, ok := kinds[gvk]
		if !ok {
			fail("document %d: unknown kind %q (add it to the test's kinds if the chart should render it)\n%s", i, gvk, doc)
			continue
		}
		obj := newObj()
		strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err == nil && len(strict) > 0 {
			err = errors.Join(strict...)
		}
		if err != nil {
			fail("document %d (%s): %v\n%s", i, gvk, err, doc)
			continue
		}
		meta := obj.(metav1.Object)
		for _, err := range checkMeta(tm.Kind, meta) {
			fail("document %d: %v", i, err)
		}
		if key := tm.Kind + "/" + meta.GetName(); seen[key] {
			fail("%s rendered twice", key)
		} else {
			seen[key] = true
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *corev1.ServiceAccount:
			m.accounts = append(m.accounts, o)
		case *corev1.PersistentVolumeClaim:
			m.claims = append(m.claims, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *networkingv1.Ingress:
			m.ingresses = append(m.ingresses, o)
		}
	}
	if len(seen) == 0 {
		return nil, errs
	}
	return m, errs
}

// checkMeta: names and labels the API server accepts.
func checkMeta(kind string, o metav1.Object) (errs []error) {
	validName := validation.IsDNS1123Subdomain
	if kind == "Service" {
		validName = validation.IsDNS1035Label
	}
	for _, msg := range validName(o.GetName()) {
		errs = append(errs, fmt.Errorf("%s name %q: %s", kind, o.GetName(), msg))
	}
	for k, v := range o.GetLabels() {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			errs = append(errs, fmt.Errorf("%s %s label %s=%q: %s", kind, o.GetName(), k, v, msg))
		}
	}
	return errs
}

// ---------------------------------------------------------------------------
// Lookups.

// container returns the Deployment whose pods run a container of that name,
// and the container; nil when none does.
func (m *manifest) container(name string) (*appsv1.Deployment, *corev1.Container) {
	for _, d := range m.deployments {
		for i := range d.Spec.Template.Spec.Containers {
			if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
				return d, c
			}
		}
	}
	return nil, nil
}

// server is jan's Deployment and container; it fails the test without them.
func (m *manifest) server(t *testing.T) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d, c := m.container("jan")
	if d == nil {
		t.Fatalf("no Deployment runs a container named jan (%d deployments)", len(m.deployments))
	}
	return d, c
}

// serviceFor is the Service whose selector picks d's pods.
func (m *manifest) serviceFor(d *appsv1.Deployment) *corev1.Service {
	for _, s := range m.services {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			return s
		}
	}
	return nil
}

func (m *manifest) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	// The last one wins, as in Kubernetes.
	for i := len(c.Env) - 1; i >= 0; i-- {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// literalEnv is the value of a plain environment variable, "" when unset.
func literalEnv(t *testing.T, c *corev1.Container, name string) string {
	t.Helper()
	e := env(c, name)
	if e == nil {
		return ""
	}
	if e.ValueFrom != nil {
		t.Errorf("%s: want a literal value, got valueFrom", name)
	}
	return e.Value
}

func requireSecretRef(t *testing.T, c *corev1.Container, name string) *corev1.SecretKeySelector {
	t.Helper()
	e := env(c, name)
	switch {
	case e == nil:
		t.Errorf("container %s: no %s", c.Name, name)
	case e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
		t.Errorf("container %s: %s must come from valueFrom.secretKeyRef", c.Name, name)
	case e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "":
		t.Errorf("container %s: %s's secretKeyRef names no Secret or key", c.Name, name)
	default:
		return e.ValueFrom.SecretKeyRef
	}
	return nil
}

// volume returns the pod's volume mounted at dir in c.
func volume(d *appsv1.Deployment, c *corev1.Container, dir string) (*corev1.Volume, *corev1.VolumeMount) {
	for i := range c.VolumeMounts {
		vm := &c.VolumeMounts[i]
		if path.Clean(vm.MountPath) != path.Clean(dir) {
			continue
		}
		for j := range d.Spec.Template.Spec.Volumes {
			if v := &d.Spec.Template.Spec.Volumes[j]; v.Name == vm.Name {
				return v, vm
			}
		}
	}
	return nil, nil
}

// seconds is an environment variable's duration (jan's time.ParseDuration
// syntax), or def when unset.
func seconds(t *testing.T, c *corev1.Container, name string, def time.Duration) time.Duration {
	t.Helper()
	v := literalEnv(t, c, name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Errorf("%s=%q: not a duration jan accepts: %v", name, v, err)
	}
	return d
}

// ---------------------------------------------------------------------------
// The checks every rendering must pass.

// secretLike names environment variables whose value is a credential: they
// must come from a Secret, never be written in the manifest.
var secretLike = regexp.MustCompile(`(?i)(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|_KEY$|^KEY$|^JAN_DB$|^DATABASE_URL$|PRIVATE)`)

// urlWithPassword is a URL carrying user:password@.
var urlWithPassword = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)

func checkCommon(t *testing.T, m *manifest) {
	d, c := m.server(t)
	pod := &d.Spec.Template.Spec

	// Selectors select their own pods.
	for _, dep := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %v does not select its pod template's labels %v (%v)", dep.Name, dep.Spec.Selector, dep.Spec.Template.Labels, err)
		}
	}

	// The image.
	if c.Image == "" || !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") {
		t.Errorf("jan image %q: want repository:tag", c.Image)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/janhq/jan:") {
		t.Errorf("jan image %q: want ghcr.io/janhq/jan:<version>", c.Image)
	}

	// Probes: /healthz for liveness (and startup), /readyz for readiness,
	// on a port the container declares.
	probe := func(kind string, p *corev1.Probe, want string, required bool) {
		t.Helper()
		if p == nil {
			if required {
				t.Errorf("jan: no %s probe", kind)
			}
			return
		}
		if p.HTTPGet == nil || p.HTTPGet.Path != want {
			t.Errorf("jan %s probe: want an httpGet on %s, got %+v", kind, want, p.ProbeHandler)
			return
		}
		port := p.HTTPGet.Port
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return (port.StrVal != "" && cp.Name == port.StrVal) || (port.StrVal == "" && cp.ContainerPort == port.IntVal)
		}) {
			t.Errorf("jan %s probe: port %s is not one of the container's", kind, port.String())
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz", true)
	probe("readiness", c.ReadinessProbe, "/readyz", true)
	probe("startup", c.StartupProbe, "/healthz", false)

	// Requests and limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("jan: no %s request", r)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		t.Errorf("jan: no memory limit")
	}
	for _, dep := range m.deployments {
		for _, ct := range dep.Spec.Template.Spec.Containers {
			if len(ct.Resources.Requests) == 0 || len(ct.Resources.Limits) == 0 {
				t.Errorf("Deployment %s container %s: want requests and limits", dep.Name, ct.Name)
			}
		}
	}

	// Security: non-root 65532, read-only root, no escalation, no
	// capabilities, the runtime's seccomp profile.
	sc, psc := c.SecurityContext, pod.SecurityContext
	if sc == nil {
		t.Fatal("jan: no container securityContext")
	}
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if !(sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) && !(psc.RunAsNonRoot != nil && *psc.RunAsNonRoot) {
		t.Error("jan: runAsNonRoot is not true")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil {
		t.Errorf("jan: runAsUser want %d, got none", janUID)
	} else if *uid != janUID {
		t.Errorf("jan: runAsUser want %d, got %d", janUID, *uid)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("jan: readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("jan: allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("jan: privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("jan: capabilities want drop [ALL] and no add, got %+v", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("jan: seccompProfile want RuntimeDefault, got %+v", seccomp)
	}

	// Writable volumes: /data (emptyDir or a claim) holding the data dir,
	// and /tmp.
	if v, _ := volume(d, c, "/data"); v == nil || (v.EmptyDir == nil && v.PersistentVolumeClaim == nil) {
		t.Errorf("jan: /data wants an emptyDir or a PersistentVolumeClaim, got %+v", v)
	} else if v.PersistentVolumeClaim != nil && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("jan: a claim at /data wants strategy Recreate, got %q", d.Spec.Strategy.Type)
	}
	if v, _ := volume(d, c, "/tmp"); v == nil || v.EmptyDir == nil {
		t.Errorf("jan: /tmp wants an emptyDir, got %+v", v)
	}
	if dir := literalEnv(t, c, "JAN_DATA_DIR"); dir != "/data" && !strings.HasPrefix(path.Clean(dir), "/data/") {
		t.Errorf("JAN_DATA_DIR=%q: want /data or below", dir)
	}

	// providers.yaml from a mounted ConfigMap.
	checkProviders(t, m, d, c)

	// Shutdown: the grace period covers the preStop sleep, the drain and
	// the shutdown grace.
	var preStop time.Duration
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Error("jan: no preStop hook")
	} else if s := c.Lifecycle.PreStop.Sleep; s != nil {
		preStop = time.Duration(s.Seconds) * time.Second
	} else if e := c.Lifecycle.PreStop.Exec; e != nil && len(e.Command) == 2 && path.Base(e.Command[0]) == "sleep" {
		n, err := strconv.Atoi(e.Command[1])
		if err != nil {
			t.Errorf("jan preStop: %v", err)
		}
		preStop = time.Duration(n) * time.Second
	} else {
		t.Errorf("jan preStop: want a sleep, got %+v", c.Lifecycle.PreStop)
	}
	if env(c, "JAN_DRAIN_DELAY") == nil || env(c, "JAN_SHUTDOWN_GRACE") == nil {
		t.Error("jan: JAN_DRAIN_DELAY and JAN_SHUTDOWN_GRACE must be set")
	}
	drain := seconds(t, c, "JAN_DRAIN_DELAY", 0)
	grace := seconds(t, c, "JAN_SHUTDOWN_GRACE", 10*time.Second)
	tgps := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		tgps = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if tgps < preStop+drain+grace {
		t.Errorf("terminationGracePeriodSeconds %s < preStop %s + drain %s + grace %s", tgps, preStop, drain, grace)
	}
	if preStop <= 0 || drain <= 0 {
		t.Errorf("want a preStop sleep and a drain delay behind a load balancer, got %s and %s", preStop, drain)
	}

	// No secret in the manifest: credentials come from Secrets.
	for _, dep := range m.deployments {
		spec := dep.Spec.Template.Spec
		for _, ct := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			for _, e := range ct.Env {
				if secretLike.MatchString(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("Deployment %s container %s: %s must come from valueFrom.secretKeyRef", dep.Name, ct.Name, e.Name)
				}
				if urlWithPassword.MatchString(e.Value) {
					t.Errorf("Deployment %s container %s: %s holds a URL with a password", dep.Name, ct.Name, e.Name)
				}
			}
			for _, a := range append(slices.Clone(ct.Args), ct.Command...) {
				if urlWithPassword.MatchString(a) || strings.Contains(a, "--api-key") {
					t.Errorf("Deployment %s container %s: argument %q carries a secret", dep.Name, ct.Name, a)
				}
			}
		}
	}
	for _, cm := range m.configMaps {
		for k, v := range cm.Data {
			if urlWithPassword.MatchString(v) {
				t.Errorf("ConfigMap %s key %s holds a URL with a password", cm.Name, k)
			}
		}
	}
	if db := env(c, "JAN_DB"); db != nil {
		requireSecretRef(t, c, "JAN_DB")
	}

	// The Service reaches jan's port.
	svc := m.serviceFor(d)
	if svc == nil {
		t.Fatal("no Service selects jan's pods")
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return (p.TargetPort.StrVal == "http" && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == "http" })) ||
			(p.TargetPort.StrVal == "" && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == p.TargetPort.IntVal }))
	}) {
		t.Errorf("Service %s: no port targets jan's http port", svc.Name)
	}

	// The HPA scales jan's Deployment on CPU; the PDB covers its pods.
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name || h.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
			t.Errorf("HPA %s: scaleTargetRef %+v is not Deployment %s", h.Name, h.Spec.ScaleTargetRef, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: minReplicas %v, maxReplicas %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if !slices.ContainsFunc(h.Spec.Metrics, func(ms autoscalingv2.MetricSpec) bool {
			return ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU &&
				ms.Resource.Target.Type == autoscalingv2.UtilizationMetricType && ms.Resource.Target.AverageUtilization != nil
		}) {
			t.Errorf("HPA %s: no CPU utilization target", h.Name)
		}
	}
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("PDB %s: selector %v does not select jan's pods (%v)", p.Name, p.Spec.Selector, err)
		}
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("PDB %s: want exactly one of minAvailable and maxUnavailable", p.Name)
		}
	}

	// Ingresses route to jan's Service and port.
	for _, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil || len(r.HTTP.Paths) == 0 {
				t.Errorf("Ingress %s: rule %q has no paths", ing.Name, r.Host)
				continue
			}
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != svc.Name || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number)
				}) {
					t.Errorf("Ingress %s: path %s does not reach Service %s's port", ing.Name, p.Path, svc.Name)
				}
			}
		}
	}

	// Every claim a pod mounts is rendered (or named as existing) and vice
	// versa.
	for _, pvc := range m.claims {
		used := false
		for _, dep := range m.deployments {
			for _, v := range dep.Spec.Template.Spec.Volumes {
				used = used || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name)
			}
		}
		if !used {
			t.Errorf("PersistentVolumeClaim %s is mounted by no pod", pvc.Name)
		}
	}
}

// checkProviders: JAN_PROVIDERS names a file of a mounted ConfigMap, which
// is rendered and is YAML with a providers list whose headers carry no
// literal credential.
func checkProviders(t *testing.T, m *manifest, d *appsv1.Deployment, c *corev1.Container) map[string]any {
	t.Helper()
	p := literalEnv(t, c, "JAN_PROVIDERS")
	if p == "" {
		t.Error("jan: JAN_PROVIDERS is not set")
		return nil
	}
	v, vm := volume(d, c, path.Dir(p))
	if v == nil || v.ConfigMap == nil {
		t.Errorf("JAN_PROVIDERS=%s: %s is not a mounted ConfigMap", p, path.Dir(p))
		return nil
	}
	if !vm.ReadOnly {
		t.Errorf("the providers ConfigMap is mounted writable")
	}
	key := path.Base(p)
	for _, it := range v.ConfigMap.Items {
		if it.Path == path.Base(p) {
			key = it.Key
		}
	}
	cm := m.configMap(v.ConfigMap.Name)
	if cm == nil {
		t.Errorf("ConfigMap %s (providers.yaml) is not rendered", v.ConfigMap.Name)
		return nil
	}
	data, ok := cm.Data[key]
	if !ok {
		t.Errorf("ConfigMap %s has no key %s", cm.Name, key)
		return nil
	}
	var doc map[string]any
	if err := yaml.UnmarshalStrict([]byte(data), &doc); err != nil {
		t.Errorf("providers.yaml: %v\n%s", err, data)
		return nil
	}
	list, ok := doc["providers"].([]any)
	if !ok {
		t.Errorf("providers.yaml: no providers list\n%s", data)
		return nil
	}
	for _, p := range list {
		pm, _ := p.(map[string]any)
		headers, _ := pm["headers"].(map[string]any)
		for h, hv := range headers {
			if s, _ := hv.(string); !strings.Contains(s, "${") {
				t.Errorf("providers.yaml provider %v: header %s is a literal; credentials go in ${VAR} from a Secret", pm["name"], h)
			}
		}
	}
	return doc
}

// ---------------------------------------------------------------------------
// Tests.

func TestLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"lint", chartDir, "--strict", "--namespace", namespace}
			if vs.file != "" {
				args = append(args, "--values", vs.file)
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	cases := []struct {
		name, file string
		set        []string
		check      func(t *testing.T, m *manifest)
	}{
		{name: "default", check: checkDefault},
		{name: "production", file: examplesDir + "/production.yaml", check: checkProduction},
		{name: "gpu-vllm", file: examplesDir + "/gpu-vllm.yaml", check: checkGPU},
		{name: "sqlite", set: []string{"--set", "database.type=sqlite,autoscaling.enabled=false,replicaCount=1,persistence.enabled=true"}, check: checkSQLite},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, templateArgs(tc.file, tc.set...)...)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, out)
			checkCommon(t, m)
			tc.check(t, m)
		})
	}
}

func checkDefault(t *testing.T, m *manifest) {
	d, c := m.server(t)
	if len(m.hpas) != 1 {
		t.Errorf("want an HPA by default, got %d", len(m.hpas))
	}
	if len(m.pdbs) != 1 {
		t.Errorf("want a PodDisruptionBudget by default, got %d", len(m.pdbs))
	}
	if len(m.ingresses) != 0 {
		t.Errorf("want no Ingress by default, got %d", len(m.ingresses))
	}
	if vd, _ := m.container("vllm"); vd != nil {
		t.Errorf("want no vLLM by default, got Deployment %s", vd.Name)
	}
	if len(m.claims) != 0 {
		t.Errorf("want no PersistentVolumeClaim by default, got %d", len(m.claims))
	}
	// Several replicas: Postgres from a Secret.
	requireSecretRef(t, c, "JAN_DB")
	if d.Spec.Replicas != nil {
		t.Errorf("with the HPA on, the Deployment should leave replicas to it, got %d", *d.Spec.Replicas)
	}
	for _, a := range m.accounts {
		if a.AutomountServiceAccountToken == nil || *a.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts an API token jan does not need", a.Name)
		}
	}
	if u := literalEnv(t, c, "JAN_PUBLIC_URL"); u == "" {
		t.Error("JAN_PUBLIC_URL is not set: replicas would each derive their own issuer")
	}
}

func checkProduction(t *testing.T, m *manifest) {
	d, c := m.server(t)
	if d.Spec.Replicas != nil && *d.Spec.Replicas != 3 {
		t.Errorf("production replicas: want 3, got %d", *d.Spec.Replicas)
	}
	if len(m.hpas) != 1 || m.hpas[0].Spec.MinReplicas == nil || *m.hpas[0].Spec.MinReplicas != 3 {
		t.Errorf("production: want an HPA with minReplicas 3, got %d HPAs", len(m.hpas))
		for _, h := range m.hpas {
			t.Logf("HPA %s minReplicas %v", h.Name, h.Spec.MinReplicas)
		}
	}
	if len(m.pdbs) != 1 {
		t.Errorf("production: want a PodDisruptionBudget, got %d", len(m.pdbs))
	}
	requireSecretRef(t, c, "JAN_DB")
	if literalEnv(t, c, "KEYCLOAK_BASE_URL") == "" {
		t.Error("production: want Keycloak (KEYCLOAK_BASE_URL)")
	}
	requireSecretRef(t, c, "BACKEND_CLIENT_SECRET")
	requireSecretRef(t, c, "JAN_METRICS_TOKEN")
	pub := literalEnv(t, c, "JAN_PUBLIC_URL")
	if u, err := url.Parse(pub); err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("production JAN_PUBLIC_URL=%q: want an https URL", pub)
	}
	if len(m.ingresses) != 1 {
		t.Fatalf("production: want one Ingress, got %d", len(m.ingresses))
	}
	ing := m.ingresses[0]
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "kong" {
		t.Errorf("production Ingress: want ingressClassName kong, got %v", ing.Spec.IngressClassName)
	}
	if len(ing.Spec.TLS) == 0 {
		t.Error("production Ingress: no TLS")
	}
	hosts := []string{}
	for _, r := range ing.Spec.Rules {
		hosts = append(hosts, r.Host)
	}
	if u, err := url.Parse(pub); err == nil && !slices.Contains(hosts, u.Hostname()) {
		t.Errorf("JAN_PUBLIC_URL %s is not one of the Ingress hosts %v", pub, hosts)
	}
}

func checkGPU(t *testing.T, m *manifest) {
	vd, vc := m.container("vllm")
	if vd == nil {
		t.Fatal("gpu-vllm: no vLLM Deployment")
	}
	lim := vc.Resources.Limits[gpuResource]
	if lim.Value() < 1 {
		t.Errorf("vLLM: want a %s limit ≥ 1, got %v", gpuResource, vc.Resources.Limits)
	}
	if req, ok := vc.Resources.Requests[gpuResource]; !ok || req.Cmp(lim) != 0 {
		t.Errorf("vLLM: want a %s request equal to the limit, got %v", gpuResource, vc.Resources.Requests)
	}
	_, c := m.server(t)
	if _, ok := c.Resources.Limits[gpuResource]; ok {
		t.Error("jan itself requests a GPU")
	}
	svc := m.serviceFor(vd)
	if svc == nil {
		t.Fatal("no Service selects the vLLM pods")
	}
	if vp := vc.ReadinessProbe; vp == nil || vp.HTTPGet == nil || vp.HTTPGet.Path != "/health" {
		t.Errorf("vLLM: want a readiness probe on /health, got %+v", vp)
	}
	// jan's providers.yaml names the vLLM Service, and sends its API key
	// (from the same Secret vLLM reads it from).
	d, _ := m.server(t)
	doc := checkProviders(t, m, d, c)
	found := false
	list, _ := doc["providers"].([]any)
	for _, p := range list {
		pm, _ := p.(map[string]any)
		base, _ := pm["base_url"].(string)
		u, err := url.Parse(base)
		if err != nil || u.Hostname() != svc.Name {
			continue
		}
		found = true
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == u.Port() }) {
			t.Errorf("provider %v: port %s is not Service %s's", pm["name"], u.Port(), svc.Name)
		}
	}
	if !found {
		t.Errorf("providers.yaml has no provider on Service %s:\n%v", svc.Name, doc)
	}
	vk := requireSecretRef(t, vc, "VLLM_API_KEY")
	jk := requireSecretRef(t, c, "VLLM_API_KEY")
	if vk != nil && jk != nil && (vk.Name != jk.Name || vk.Key != jk.Key) {
		t.Errorf("jan reads VLLM_API_KEY from %s/%s, vLLM from %s/%s", jk.Name, jk.Key, vk.Name, vk.Key)
	}
}

func checkSQLite(t *testing.T, m *manifest) {
	d, c := m.server(t)
	if env(c, "JAN_DB") != nil {
		t.Error("sqlite: JAN_DB is set")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("sqlite: want 1 replica, got %v", d.Spec.Replicas)
	}
	if len(m.hpas) != 0 {
		t.Error("sqlite: an HPA would start a second database")
	}
	if v, _ := volume(d, c, "/data"); v == nil || v.PersistentVolumeClaim == nil {
		t.Errorf("sqlite with persistence: want a claim at /data, got %+v", v)
	}
	if len(m.claims) != 1 {
		t.Errorf("sqlite with persistence: want one PersistentVolumeClaim, got %d", len(m.claims))
	}
}

// TestTemplateRejects: settings that cannot work fail the render with a
// message naming the setting.
func TestTemplateRejects(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"grace too short", []string{"--set", "terminationGracePeriodSeconds=10"}, "terminationGracePeriodSeconds (10) must be at least"},
		{"sqlite with the HPA", []string{"--set", "database.type=sqlite"}, "sqlite serves one replica"},
		{"sqlite with two replicas", []string{"--set", "database.type=sqlite,autoscaling.enabled=false"}, "sqlite serves one replica"},
		{"persistence with the HPA", []string{"--set", "persistence.enabled=true"}, "persistence.enabled is for a single"},
		{"keycloak without its secret", []string{"--set", "keycloak.baseURL=https://auth.example.com"}, "keycloak.clientSecret.existingSecret"},
		{"literal secret in extraEnv", []string{"--set-json", `extraEnv=[{"name":"OPENAI_API_KEY","value":"sk-literal"}]`}, "looks like a secret"},
		{"drain beyond the grace", []string{"--set", "drainDelay=60s"}, "drainDelay must not exceed shutdownGrace"},
		{"bad duration", []string{"--set", "shutdownGrace=1m"}, "shutdownGrace: want whole seconds"},
		{"unknown database type", []string{"--set", "database.type=mysql"}, "database.type"},
		{"vllm without a GPU", []string{"--set", "vllm.enabled=true,vllm.gpus=0"}, "vllm.gpus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, templateArgs("", tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v rendered; want it to fail with %q\n%s", tc.args, tc.want, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v: want an error containing %q, got %v", tc.args, tc.want, err)
			}
		})
	}
}

// TestDecodeStrict: the decoding the chart's output goes through rejects
// what the API server would (and what the chart must not render), so that
// TestTemplate's passing means something.
func TestDecodeStrict(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"
	if m, errs := decodeManifest("---\n# Source: x\n" + cm + "---\n# only a comment\n"); len(errs) > 0 || m == nil || len(m.configMaps) != 1 {
		t.Fatalf("a valid ConfigMap: %v", errs)
	}
	cases := []struct{ name, doc, want string }{
		{"unknown field", cm + "datta: {}\n", "unknown field"},
		{"unknown nested field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          imagee: x\n", "unknown field"},
		{"field in the wrong case", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\nAutomountServiceAccountToken: false\n", "unknown field"},
		{"duplicate key", cm + "metadata:\n  name: again\n", "already set"},
		{"duplicate label", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    a: b\n    a: c\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: two}\n", "replicas"},
		{"unknown kind", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: s}\n", "unknown kind"},
		{"old apiVersion", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n", "unknown kind"},
		{"a Secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: x}\n", "renders a Secret"},
		{"bad name", "apiVersion: v1\nkind: Service\nmetadata: {name: Jan_Server}\n", "Service name"},
		{"twice", cm + "---\n" + cm, "rendered twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errs := decodeManifest(tc.doc)
			if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// TestRenderWithoutHelm: `jan deploy render` (internal/deploy) renders the
// same objects as helm template, for the default values, every example and
// --set values, and refuses what the chart refuses with the same message.
func TestRenderWithoutHelm(t *testing.T) {
	cases := []struct {
		name, file string
		set        []string
	}{
		{name: "default"},
		{name: "production", file: examplesDir + "/production.yaml"},
		{name: "gpu-vllm", file: examplesDir + "/gpu-vllm.yaml"},
		{name: "sqlite", set: []string{"database.type=sqlite,autoscaling.enabled=false,replicaCount=1,persistence.enabled=true"}},
		{name: "production with sets", file: examplesDir + "/production.yaml", set: []string{"replicaCount=4", "image.tag=v9.9.9,drainDelay=2s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var extra []string
			opts := deploy.Options{Release: release, Namespace: namespace, Set: tc.set}
			for _, s := range tc.set {
				extra = append(extra, "--set", s)
			}
			if tc.file != "" {
				b, err := os.ReadFile(filepath.Join(root(t), tc.file))
				if err != nil {
					t.Fatal(err)
				}
				opts.Values = [][]byte{b}
			}
			want, err := helm(t, templateArgs(tc.file, extra...)...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := deploy.Render(chart.Chart(), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantObjs, gotObjs := objects(t, want), objects(t, got)
			for key, w := range wantObjs {
				if g, ok := gotObjs[key]; !ok {
					t.Errorf("%s: helm renders it, jan deploy render does not", key)
				} else if !reflect.DeepEqual(w, g) {
					wj, _ := json.MarshalIndent(w, "", " ")
					gj, _ := json.MarshalIndent(g, "", " ")
					t.Errorf("%s differs:\nhelm:\n%s\njan deploy render:\n%s", key, wj, gj)
				}
			}
			for key := range gotObjs {
				if _, ok := wantObjs[key]; !ok {
					t.Errorf("%s: jan deploy render renders it, helm does not", key)
				}
			}
			if len(wantObjs) < 5 {
				t.Errorf("helm rendered only %d objects", len(wantObjs))
			}
		})
	}
	for _, tc := range []struct{ set, want string }{
		{"terminationGracePeriodSeconds=10", "terminationGracePeriodSeconds (10) must be at least"},
		{"database.type=sqlite", "sqlite serves one replica"},
		{"keycloak.baseURL=https://auth.example.com", "keycloak.clientSecret.existingSecret"},
		{"shutdownGrace=1m", "shutdownGrace: want whole seconds"},
		{"vllm.enabled=true,vllm.gpus=0", "vllm.gpus"},
	} {
		_, err := deploy.Render(chart.Chart(), deploy.Options{Set: []string{tc.set}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "executing") {
			t.Errorf("render --set %s: %v, want the chart's message %q alone", tc.set, err, tc.want)
		}
	}
}

// objects are a manifest's objects by kind/name, as generic JSON values.
func objects(t *testing.T, out string) map[string]any {
	t.Helper()
	objs := map[string]any{}
	for _, doc := range docSeparator.Split(out, -1) {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var o map[string]any
		if err := json.Unmarshal(j, &o); err != nil || o == nil {
			continue
		}
		meta, _ := o["metadata"].(map[string]any)
		objs[fmt.Sprintf("%v/%v", o["kind"], meta["name"])] = o
	}
	return objs
}
