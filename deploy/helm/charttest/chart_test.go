// Package charttest renders the crmgw Helm chart with Helm's own Go packages
// (the chart loader, the linter and the template engine, as `helm lint` and
// `helm template` do) and checks the manifests a cluster would receive. It
// is a module of its own so that Helm's Kubernetes dependencies stay out of
// the gateway's build; `make test-chart` runs it. See docs/deploy.md.
package charttest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

const chartDir = "../crmgw"

// manifest is one rendered Kubernetes object.
type manifest struct {
	file string
	obj  map[string]any
}

// render loads the chart, merges overrides over its values and renders
// every template, like `helm template crmgw deploy/helm/crmgw -f overrides`.
func render(t *testing.T, overrides map[string]any) []manifest {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals, err := util.ToRenderValues(ch, overrides, common.ReleaseOptions{
		Name: "crmgw", Namespace: "crm", IsInstall: true, Revision: 1,
	}, common.DefaultCapabilities)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	var docs []manifest
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(out[name]))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s does not render to valid YAML: %v\n%s", name, err, out[name])
			}
			if obj != nil {
				docs = append(docs, manifest{file: name, obj: obj})
			}
		}
	}
	return docs
}

func find(t *testing.T, docs []manifest, kind string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d.obj["kind"] == kind {
			return d.obj
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}

func has(docs []manifest, kind string) bool {
	for _, d := range docs {
		if d.obj["kind"] == kind {
			return true
		}
	}
	return false
}

// at walks a path of map keys and list indexes through a decoded object.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not a map", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func container(t *testing.T, docs []manifest) map[string]any {
	t.Helper()
	return at(t, find(t, docs, "Deployment"), "spec", "template", "spec", "containers", 0).(map[string]any)
}

// gatewayConfig is the crmgw.yaml the ConfigMap carries, decoded.
func gatewayConfig(t *testing.T, docs []manifest) map[string]any {
	t.Helper()
	text, _ := at(t, find(t, docs, "ConfigMap"), "data", "crmgw.yaml").(string)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("the ConfigMap's crmgw.yaml is not YAML: %v\n%s", err, text)
	}
	return cfg
}

func TestChartLints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"default values", nil},
		{"everything optional on", map[string]any{
			"autoscaling":    map[string]any{"enabled": true},
			"serviceMonitor": map[string]any{"enabled": true},
			"redis":          map[string]any{"address": "redis:6379", "passwordSecret": map[string]any{"name": "redis"}},
			"secrets":        map[string]any{"mountAsFiles": true},
			"policies":       map[string]any{"configMap": "crmgw-policies"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, tc.values, "crm")
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

func TestDeploymentIsLockedDown(t *testing.T) {
	docs := render(t, nil)
	pod := at(t, find(t, docs, "Deployment"), "spec", "template", "spec").(map[string]any)
	if pod["automountServiceAccountToken"] != false {
		t.Errorf("the pod mounts a service account token it never uses")
	}
	if at(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	c := container(t, docs)
	sc := c["securityContext"].(map[string]any)
	for key, want := range map[string]any{
		"runAsNonRoot":             true,
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
		"privileged":               false,
	} {
		if sc[key] != want {
			t.Errorf("container securityContext.%s = %v, want %v", key, sc[key], want)
		}
	}
	if drop := at(t, sc, "capabilities", "drop"); len(drop.([]any)) != 1 || drop.([]any)[0] != "ALL" {
		t.Errorf("capabilities.drop = %v, want [ALL]", drop)
	}
	if at(t, c, "livenessProbe", "httpGet", "path") != "/healthz" || at(t, c, "livenessProbe", "httpGet", "port") != "admin" {
		t.Errorf("liveness probe is not /healthz on the admin port: %v", c["livenessProbe"])
	}
	if at(t, c, "readinessProbe", "httpGet", "path") != "/readyz" || at(t, c, "readinessProbe", "httpGet", "port") != "admin" {
		t.Errorf("readiness probe is not /readyz on the admin port: %v", c["readinessProbe"])
	}
	if at(t, c, "resources", "limits", "memory") == nil || at(t, c, "resources", "requests", "cpu") == nil {
		t.Errorf("no resource requests and limits: %v", c["resources"])
	}
	// A read-only root needs somewhere to write: /tmp and the state
	// directory are emptyDirs, nothing else is writable.
	mounts := map[string]bool{}
	for _, m := range c["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		mounts[mm["mountPath"].(string)] = mm["readOnly"] == true
	}
	if ro, ok := mounts["/etc/crmgw/crmgw.yaml"]; !ok || !ro {
		t.Errorf("the configuration is not mounted read-only at /etc/crmgw/crmgw.yaml: %v", mounts)
	}
	if _, ok := mounts["/tmp"]; !ok {
		t.Errorf("no writable /tmp under a read-only root: %v", mounts)
	}
	args := at(t, c, "args").([]any)
	if len(args) != 3 || args[0] != "serve" || args[2] != "/etc/crmgw/crmgw.yaml" {
		t.Errorf("args = %v, want serve --config /etc/crmgw/crmgw.yaml", args)
	}
}

// The admin listener (metrics, approvals and the admin API) must not be
// reachable from outside the pod by default: ways around that would be a
// Service port, a NetworkPolicy rule admitting it, or a ServiceMonitor's
// metrics Service rendered without being asked for.
func TestAdminListenerNotExposedByDefault(t *testing.T) {
	docs := render(t, nil)
	for _, d := range docs {
		if d.obj["kind"] != "Service" {
			continue
		}
		for _, p := range at(t, d.obj, "spec", "ports").([]any) {
			pm := p.(map[string]any)
			if pm["targetPort"] == "admin" || pm["port"] == 9090 {
				t.Errorf("Service %v exposes the admin port by default", at(t, d.obj, "metadata", "name"))
			}
		}
	}
	if has(docs, "ServiceMonitor") {
		t.Errorf("a ServiceMonitor is rendered without serviceMonitor.enabled")
	}
	np := find(t, docs, "NetworkPolicy")
	rules := at(t, np, "spec", "ingress").([]any)
	for _, r := range rules {
		for _, p := range r.(map[string]any)["ports"].([]any) {
			if p.(map[string]any)["port"] != "proxy" {
				t.Errorf("NetworkPolicy admits port %v by default", p.(map[string]any)["port"])
			}
		}
	}
	cfg := gatewayConfig(t, docs)
	if at(t, cfg, "admin", "listen") != "0.0.0.0:9090" || at(t, cfg, "server", "listen") != "0.0.0.0:8080" {
		t.Errorf("listeners in crmgw.yaml: server %v admin %v", at(t, cfg, "server", "listen"), at(t, cfg, "admin", "listen"))
	}

	// Asked for: the metrics Service and ServiceMonitor appear, and only
	// the named scrapers are admitted to the admin port.
	docs = render(t, map[string]any{
		"serviceMonitor": map[string]any{"enabled": true},
		"networkPolicy": map[string]any{"metricsFrom": []any{map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}},
		}}},
	})
	sm := find(t, docs, "ServiceMonitor")
	if at(t, sm, "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("ServiceMonitor does not scrape /metrics: %v", sm["spec"])
	}
	rules = at(t, find(t, docs, "NetworkPolicy"), "spec", "ingress").([]any)
	if len(rules) != 2 || at(t, rules[1], "ports", 0, "port") != "admin" || at(t, rules[1], "from") == nil {
		t.Errorf("NetworkPolicy with metricsFrom: %v", rules)
	}
}

func TestChangedValuesShowUp(t *testing.T) {
	docs := render(t, nil)
	if got := at(t, find(t, docs, "Deployment"), "spec", "replicas"); got != 2 {
		t.Errorf("default replicas = %v, want 2", got)
	}
	if has(docs, "HorizontalPodAutoscaler") {
		t.Errorf("HPA rendered while autoscaling is off")
	}
	if at(t, find(t, docs, "PodDisruptionBudget"), "spec", "minAvailable") != 1 {
		t.Errorf("PDB minAvailable is not 1")
	}
	if store := at(t, gatewayConfig(t, docs), "ratelimit", "store"); store != "memory" {
		t.Errorf("default ratelimit.store = %v, want memory", store)
	}

	docs = render(t, map[string]any{
		"replicaCount": 5,
		"image":        map[string]any{"tag": "v1.2.3"},
		"redis":        map[string]any{"address": "redis-master.cache:6380", "db": 2, "passwordSecret": map[string]any{"name": "redis-auth"}},
		"secrets":      map[string]any{"existingSecret": "crm-creds", "mountAsFiles": true},
	})
	d := find(t, docs, "Deployment")
	if got := at(t, d, "spec", "replicas"); got != 5 {
		t.Errorf("replicas = %v, want 5", got)
	}
	c := container(t, docs)
	if img := c["image"].(string); !strings.HasSuffix(img, ":v1.2.3") {
		t.Errorf("image = %s, want tag v1.2.3", img)
	}
	cfg := gatewayConfig(t, docs)
	if got := at(t, cfg, "ratelimit", "store"); got != "redis" {
		t.Errorf("ratelimit.store = %v, want redis", got)
	}
	if got := at(t, cfg, "ratelimit", "redis", "url"); got != "redis://redis-master.cache:6380/2" {
		t.Errorf("ratelimit.redis.url = %v", got)
	}
	// The password is never in the ConfigMap: it is ${CRMGW_REDIS_PASSWORD},
	// filled from the Secret through the environment.
	if got := at(t, cfg, "ratelimit", "redis", "password"); got != "${CRMGW_REDIS_PASSWORD}" {
		t.Errorf("ratelimit.redis.password = %v", got)
	}
	if limits := at(t, cfg, "ratelimit", "limits"); limits == nil {
		t.Errorf("setting redis.address dropped the limits")
	}
	env := at(t, c, "env", 0).(map[string]any)
	if env["name"] != "CRMGW_REDIS_PASSWORD" || at(t, env, "valueFrom", "secretKeyRef", "name") != "redis-auth" {
		t.Errorf("redis password env = %v", env)
	}
	if at(t, c, "envFrom", 0, "secretRef", "name") != "crm-creds" {
		t.Errorf("envFrom = %v", c["envFrom"])
	}
	var secretVol map[string]any
	for _, v := range at(t, d, "spec", "template", "spec", "volumes").([]any) {
		if v.(map[string]any)["name"] == "secrets" {
			secretVol = v.(map[string]any)
		}
	}
	if secretVol == nil || at(t, secretVol, "secret", "secretName") != "crm-creds" {
		t.Errorf("secrets not mounted as files: %v", secretVol)
	}

	docs = render(t, map[string]any{"autoscaling": map[string]any{"enabled": true, "maxReplicas": 7}})
	if _, ok := at(t, find(t, docs, "Deployment"), "spec").(map[string]any)["replicas"]; ok {
		t.Errorf("replicas set on the Deployment while the HPA owns it")
	}
	if got := at(t, find(t, docs, "HorizontalPodAutoscaler"), "spec", "maxReplicas"); got != 7 {
		t.Errorf("HPA maxReplicas = %v, want 7", got)
	}
}

// TestRenderedConfigGolden keeps testdata/crmgw.yaml equal to the
// configuration the chart renders with its default values; the gateway's own
// tests (cmd/crmgw) check that this file passes `crmgw validate`, so a chart
// change that breaks the configuration fails there. Run with
// CRMGW_UPDATE_GOLDEN=1 to rewrite it.
func TestRenderedConfigGolden(t *testing.T) {
	docs := render(t, nil)
	text, _ := at(t, find(t, docs, "ConfigMap"), "data", "crmgw.yaml").(string)
	golden := filepath.Join("testdata", "crmgw.yaml")
	if os.Getenv("CRMGW_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, []byte(text)) {
		t.Errorf("the chart renders a crmgw.yaml that differs from %s (CRMGW_UPDATE_GOLDEN=1 to update):\n%s", golden, text)
	}
}
