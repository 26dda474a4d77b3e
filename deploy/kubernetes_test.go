package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/lingpai/lingpai/config"
)

// The manifests are validated against the Kubernetes API's own Go types with strict decoding: an
// unknown or misspelt field (readinesProbe, containerport) or a wrong type fails, as it would at
// kubectl apply --validate=strict. A schema validator such as kubeconform needs the JSON schemas,
// which CI cannot download; the API types carry the same field set. On top of the schema, the test
// checks what the schema cannot: selectors match the pods, probes and Service ports name real
// container ports, every LINGPAI_* variable names a configuration key and the whole loads.

const k8sDir = "kubernetes"

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	job        *batchv1.Job
	configMap  *corev1.ConfigMap
}

func strict(t *testing.T, file string, doc []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	strict(t, "kustomization.yaml", raw, &k)
	if k.Kind != "Kustomization" || k.APIVersion != "kustomize.config.k8s.io/v1beta1" {
		t.Fatalf("kustomization.yaml: kind %q apiVersion %q", k.Kind, k.APIVersion)
	}
	// Every manifest in the folder is in the base, and every resource listed exists.
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	listed := slices.Clone(k.Resources)
	sort.Strings(onDisk)
	sort.Strings(listed)
	if !slices.Equal(onDisk, listed) {
		t.Fatalf("kustomization resources %v, files %v", listed, onDisk)
	}
	m := &manifests{}
	for _, f := range k.Resources {
		raw, err := os.ReadFile(filepath.Join(k8sDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(raw, []byte("\n---")) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				strict(t, f, doc, m.deployment)
			case "v1 Service":
				m.service = &corev1.Service{}
				strict(t, f, doc, m.service)
			case "policy/v1 PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				strict(t, f, doc, m.pdb)
			case "batch/v1 Job":
				m.job = &batchv1.Job{}
				strict(t, f, doc, m.job)
			case "v1 ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				strict(t, f, doc, m.configMap)
			default:
				t.Fatalf("%s: unexpected %s %s", f, meta.APIVersion, meta.Kind)
			}
		}
	}
	if m.deployment == nil || m.service == nil || m.pdb == nil || m.job == nil || m.configMap == nil {
		t.Fatalf("the base needs a Deployment, Service, PodDisruptionBudget, Job and ConfigMap: %+v", m)
	}
	return m
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func portNames(c corev1.Container) []string {
	var out []string
	for _, p := range c.Ports {
		out = append(out, p.Name)
	}
	return out
}

func TestKubernetesBase(t *testing.T) {
	m := loadManifests(t)
	d := m.deployment
	pod := d.Spec.Template
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("deployment replicas: want 2")
	}
	if d.Spec.Selector == nil || !matches(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("deployment selector does not match its pods")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s probe: want GET %s", name, path)
			return
		}
		if !slices.Contains(portNames(c), p.HTTPGet.Port.String()) {
			t.Errorf("%s probe port %q is not a container port %v", name, p.HTTPGet.Port.String(), portNames(c))
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	for _, ct := range append(pod.Spec.Containers, m.job.Spec.Template.Spec.Containers...) {
		if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Requests.Memory().IsZero() || ct.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: want cpu and memory requests and a memory limit", ct.Name)
		}
		if ct.SecurityContext == nil || ct.SecurityContext.ReadOnlyRootFilesystem == nil || !*ct.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("container %s: want a read-only root filesystem", ct.Name)
		}
	}
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds == nil || *pod.Spec.TerminationGracePeriodSeconds < grace {
		t.Errorf("terminationGracePeriodSeconds must exceed server.shutdown_timeout (15s)")
	}

	if !matches(m.pdb.Spec.Selector.MatchLabels, pod.Labels) || m.pdb.Spec.MinAvailable == nil || m.pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget: want minAvailable 1 selecting the server pods")
	}
	if matches(m.pdb.Spec.Selector.MatchLabels, m.job.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget also selects the migration Job's pod")
	}
	if !matches(m.service.Spec.Selector, pod.Labels) || matches(m.service.Spec.Selector, m.job.Spec.Template.Labels) {
		t.Errorf("Service must select the server pods and only them")
	}
	for _, p := range m.service.Spec.Ports {
		if !slices.Contains(portNames(c), p.TargetPort.String()) {
			t.Errorf("Service port %s targets %q, not a container port", p.Name, p.TargetPort.String())
		}
	}

	job := m.job.Spec.Template.Spec
	if len(job.Containers) != 1 || !slices.Equal(job.Containers[0].Command, []string{"/usr/local/bin/lingpai", "migrate"}) {
		t.Errorf("migration Job must run lingpai migrate")
	}
	if job.RestartPolicy != corev1.RestartPolicyOnFailure && job.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job restartPolicy %q", job.RestartPolicy)
	}

	// Secrets: mounted as files from the Secret "lingpai", never put in the ConfigMap.
	for name, spec := range map[string]corev1.PodSpec{"deployment": pod.Spec, "job": job} {
		var secretVolumes []string
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				if v.Secret.SecretName != "lingpai" {
					t.Errorf("%s: volume %s mounts Secret %q, want lingpai", name, v.Name, v.Secret.SecretName)
				}
				secretVolumes = append(secretVolumes, v.Name)
			}
		}
		if len(secretVolumes) == 0 {
			t.Errorf("%s: no Secret volume", name)
		}
		for _, ct := range spec.Containers {
			if len(ct.EnvFrom) != 1 || ct.EnvFrom[0].ConfigMapRef == nil || ct.EnvFrom[0].ConfigMapRef.Name != m.configMap.Name {
				t.Errorf("%s/%s: want envFrom the ConfigMap %s", name, ct.Name, m.configMap.Name)
			}
		}
	}

	// The configuration: every variable names a key, and the whole loads.
	secrets := t.TempDir()
	env := []string{}
	for k, v := range m.configMap.Data {
		if !strings.HasPrefix(k, config.EnvPrefix) {
			t.Errorf("ConfigMap key %s is not a LINGPAI_* variable", k)
			continue
		}
		for _, s := range []string{"PASSWORD", "SECRET=", "DSN="} {
			if strings.Contains(k+"=", s) && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("ConfigMap carries a secret: %s", k)
			}
		}
		if strings.HasSuffix(k, "_FILE") {
			// Point the file keys at stand-ins for the mounted Secret.
			local := filepath.Join(secrets, filepath.Base(v))
			if err := os.WriteFile(local, []byte(map[string]string{"dsn": "lingpai:pw@tcp(mysql:3306)/lingpai", "token-secret": strings.Repeat("k", 48)}[filepath.Base(v)]), 0o600); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(v, "/run/secrets/lingpai/") {
				t.Errorf("%s=%s is not in the mounted Secret", k, v)
			}
			v = local
		}
		env = append(env, k+"="+v)
	}
	if _, err := config.Load("", false, env); err != nil {
		t.Errorf("the ConfigMap is not a valid configuration: %v", err)
	}
}

// TestStrictDecodingCatchesTypos: the validation above would fail on a misspelt field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{{"readinessProbe:", "readinesProbe:"}, {"containerPort: 8080", "containerPort: http"}} {
		bad := bytes.Replace(raw, []byte(typo[0]), []byte(typo[1]), 1)
		if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil {
			t.Errorf("%q accepted", typo[1])
		}
	}
}
