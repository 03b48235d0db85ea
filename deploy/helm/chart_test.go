package helm

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/stickybucket/stickybucket/config"
)

// shutdownSteps is how many steps of serve's shutdown are each bounded by
// server.shutdown_timeout: the requests in flight, the queued events, the
// pending saves, the spans not yet sent (stack.Service.Close).
const shutdownSteps = 4

// The tokens and datafile the default values need to render.
var (
	apiToken   = "api-token-0123456789abcdef"
	adminToken = "admin-token-0123456789abcdef"
	withSecret = []string{"secret.apiTokens={" + apiToken + "}", "secret.adminTokens={" + adminToken + "}"}
)

func withDatafile(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"datafiles.inline.sample=" + string(b)}
}

// TestDefaultValuesSayWhatIsMissing: the chart as shipped refuses to
// render without tokens (its listeners are reachable from the cluster,
// where serve would refuse to start without them) and without a datafile,
// naming the values to set.
func TestDefaultValuesSayWhatIsMissing(t *testing.T) {
	_, err := render(t, values{sets: withSecret})
	if err == nil || !strings.Contains(err.Error(), "datafiles: give at least one datafile") {
		t.Errorf("no datafile: %v, want the datafiles message", err)
	}
	_, err = render(t, values{literals: withDatafile(t)})
	if err == nil || !strings.Contains(err.Error(), "set secret.apiTokens and secret.adminTokens") {
		t.Errorf("no tokens: %v, want the secret message", err)
	}
	_, err = render(t, values{literals: withDatafile(t), sets: []string{
		"secret.apiTokens={" + apiToken + "}", "secret.adminTokens={sha256:0123}", "serviceMonitor.enabled=true",
	}})
	if err == nil || !strings.Contains(err.Error(), "secret.scrapeToken") {
		t.Errorf("a ServiceMonitor with hashed admin tokens only: %v, want the scrapeToken message", err)
	}
	_, err = render(t, values{literals: withDatafile(t), sets: append(withSecret, "serviceMonitor.enabled=true", "secret.scrapeToken=another-token-0123456789")})
	if err == nil || !strings.Contains(err.Error(), "not one of secret.adminTokens") {
		t.Errorf("a scrape token the service does not accept: %v, want it refused", err)
	}
}

// TestDefaultValues: the defaults with tokens and one inline datafile.
func TestDefaultValues(t *testing.T) {
	m, err := render(t, values{sets: withSecret, literals: withDatafile(t)})
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, m)
	cfg, dep := checkService(t, o)

	env := cfg.Environments[cfg.Environment]
	if cfg.Environment != "production" || env.LocalDC != "dc1" || cfg.Store.Kind != "cassandra" {
		t.Errorf("config: environment %q, local_dc %q, store %q; want production, dc1, cassandra", cfg.Environment, env.LocalDC, cfg.Store.Kind)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3 without autoscaling", dep.Spec.Replicas)
	}
	if n := len(all[*autoscalingv2.HorizontalPodAutoscaler](o)); n != 0 {
		t.Errorf("%d HorizontalPodAutoscalers, want none unless enabled", n)
	}
	if n := len(all[*monitoringv1.ServiceMonitor](o)); n != 0 {
		t.Errorf("%d ServiceMonitors, want none unless enabled", n)
	}

	// The chart's Secret holds the tokens under the keys the pod reads.
	secret := only[*corev1.Secret](t, o)
	want := map[string]string{"api-tokens": apiToken, "admin-tokens": adminToken, "scrape-token": adminToken}
	if !maps.Equal(secret.StringData, want) {
		t.Errorf("secret %v, want %v", secret.StringData, want)
	}
	checkSecretRefs(t, dep, secret.Name)

	// The inline datafile is in a ConfigMap of its own, mounted where the
	// configuration looks for it.
	df := configMap(t, o, "sb-stickybucket-datafiles")
	if len(cfg.Datafiles) != 1 || cfg.Datafiles[0].SDKKey != "sample" {
		t.Fatalf("config datafiles %+v, want the inline sample", cfg.Datafiles)
	}
	dir, file := path.Split(cfg.Datafiles[0].File)
	if df.Data[file] == "" || mountOf(t, dep, "datafiles") != path.Clean(dir) {
		t.Errorf("datafile %s: ConfigMap keys %v, mounted at %s", cfg.Datafiles[0].File, slices.Sorted(maps.Keys(df.Data)), mountOf(t, dep, "datafiles"))
	}

	pdb := only[*policyv1.PodDisruptionBudget](t, o)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want 1 and unset", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selects %v, the Deployment's pods are %v", pdb.Spec.Selector.MatchLabels, dep.Spec.Selector.MatchLabels)
	}
}

// TestRegions: the two regions' values render on their own (tokens from
// an existing Secret, datafiles by URL), each connects to its own
// datacenter, and both share one keyspace and replication.
func TestRegions(t *testing.T) {
	type region struct {
		cfg config.Config
		dc  string
	}
	var regions []region
	for _, c := range []struct{ file, dc string }{
		{"values-region-a.yaml", "eu-west"},
		{"values-region-b.yaml", "us-east"},
	} {
		t.Run(c.file, func(t *testing.T) {
			m, err := render(t, values{files: []string{c.file}})
			if err != nil {
				t.Fatal(err)
			}
			o := decode(t, m)
			cfg, dep := checkService(t, o)
			env := cfg.Environments[cfg.Environment]
			if env.LocalDC != c.dc {
				t.Errorf("local_dc %q, want %q", env.LocalDC, c.dc)
			}
			if !strings.HasPrefix(env.ReadConsistency, "LOCAL_") || !strings.HasPrefix(env.WriteConsistency, "LOCAL_") || env.RemoteDCFallback {
				t.Errorf("consistency %s/%s, fallback %v: want LOCAL_* and no fallback, so the region stays local", env.ReadConsistency, env.WriteConsistency, env.RemoteDCFallback)
			}
			for _, h := range cfg.Cassandra.Hosts {
				if !strings.Contains(h, c.dc) {
					t.Errorf("Cassandra host %s is not in %s", h, c.dc)
				}
			}
			if _, ok := env.Replication.Datacenters[c.dc]; !ok {
				t.Errorf("replication %v leaves out the local datacenter %s", env.Replication.Datacenters, c.dc)
			}

			// Tokens come from the existing Secret; the chart makes none.
			if n := len(all[*corev1.Secret](o)); n != 0 {
				t.Errorf("%d Secrets rendered, want none with secret.existingSecret", n)
			}
			checkSecretRefs(t, dep, "stickybucket-secrets")

			// Autoscaling on: the autoscaler owns the replica count.
			hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, o)
			if dep.Spec.Replicas != nil {
				t.Errorf("replicas %d set alongside the autoscaler", *dep.Spec.Replicas)
			}
			if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Name || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
				t.Errorf("HPA targets %+v, min %v; want the Deployment %s, at least 2", hpa.Spec.ScaleTargetRef, hpa.Spec.MinReplicas, dep.Name)
			}
			if len(hpa.Spec.Metrics) == 0 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("HPA metrics %+v, want CPU", hpa.Spec.Metrics)
			}

			// The ServiceMonitor scrapes the admin port with the Secret's token.
			sm := only[*monitoringv1.ServiceMonitor](t, o)
			svc := only[*corev1.Service](t, o)
			if len(sm.Spec.Endpoints) != 1 {
				t.Fatalf("ServiceMonitor endpoints %+v, want one", sm.Spec.Endpoints)
			}
			ep := sm.Spec.Endpoints[0]
			if ep.Port != "admin" || ep.Path != "/metrics" || !hasPort(svc, "admin") {
				t.Errorf("ServiceMonitor scrapes port %q path %q; want the Service's admin port, /metrics", ep.Port, ep.Path)
			}
			if ep.Authorization == nil || ep.Authorization.Credentials == nil ||
				ep.Authorization.Credentials.Name != "stickybucket-secrets" || ep.Authorization.Credentials.Key != "scrape-token" {
				t.Errorf("ServiceMonitor authorization %+v, want the scrape-token of stickybucket-secrets", ep.Authorization)
			}
			if !reflect.DeepEqual(sm.Spec.Selector.MatchLabels, svc.Labels) && !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
				t.Errorf("ServiceMonitor selects %v; the Service is labelled %v", sm.Spec.Selector.MatchLabels, svc.Labels)
			}
			if sm.Labels["region"] != c.dc {
				t.Errorf("ServiceMonitor labels %v, want region=%s", sm.Labels, c.dc)
			}
			only[*policyv1.PodDisruptionBudget](t, o)
			regions = append(regions, region{cfg, c.dc})
		})
	}
	if len(regions) != 2 {
		return
	}
	a, b := regions[0].cfg, regions[1].cfg
	ea, eb := a.Environments[a.Environment], b.Environments[b.Environment]
	if a.Environment != b.Environment || ea.Keyspace != eb.Keyspace || !reflect.DeepEqual(ea.Replication, eb.Replication) || ea.Retention != eb.Retention {
		t.Errorf("the regions differ: %s keyspace %s replication %+v retention %v; %s keyspace %s replication %+v retention %v",
			a.Environment, ea.Keyspace, ea.Replication, ea.Retention, b.Environment, eb.Keyspace, eb.Replication, eb.Retention)
	}
}

// TestOptions: what the optional values turn on and off.
func TestOptions(t *testing.T) {
	base := values{sets: withSecret, literals: withDatafile(t)}
	with := func(sets ...string) values {
		v := base
		v.sets = append(slices.Clone(base.sets), sets...)
		return v
	}
	t.Run("autoscaling and ServiceMonitor", func(t *testing.T) {
		m, err := render(t, with("autoscaling.enabled=true", "serviceMonitor.enabled=true"))
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, m)
		only[*autoscalingv2.HorizontalPodAutoscaler](t, o)
		sm := only[*monitoringv1.ServiceMonitor](t, o)
		if c := sm.Spec.Endpoints[0].Authorization.Credentials; c.Name != "sb-stickybucket" || c.Key != "scrape-token" {
			t.Errorf("ServiceMonitor credentials %+v, want the chart's Secret", c)
		}
		if dep := only[*appsv1.Deployment](t, o); dep.Spec.Replicas != nil {
			t.Errorf("replicas %d set alongside the autoscaler", *dep.Spec.Replicas)
		}
	})
	t.Run("no PDB", func(t *testing.T) {
		m, err := render(t, with("podDisruptionBudget.enabled=false"))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(all[*policyv1.PodDisruptionBudget](decode(t, m))); n != 0 {
			t.Errorf("%d PDBs, want none", n)
		}
	})
	t.Run("PDB minAvailable", func(t *testing.T) {
		m, err := render(t, with("podDisruptionBudget.maxUnavailable=", "podDisruptionBudget.minAvailable=2"))
		if err != nil {
			t.Fatal(err)
		}
		pdb := only[*policyv1.PodDisruptionBudget](t, decode(t, m))
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
			t.Errorf("PDB minAvailable %v maxUnavailable %v, want 2 and unset", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		m, err := render(t, with("tls.secretName=sb-tls"))
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, m)
		cfg, dep := checkService(t, o)
		c := dep.Spec.Template.Spec.Containers[0]
		for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			if p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("probe %s over %s, want HTTPS", p.HTTPGet.Path, p.HTTPGet.Scheme)
			}
		}
		dir := mountOf(t, dep, "tls")
		if cfg.Server.TLS.CertFile != dir+"/tls.crt" || cfg.Server.TLS.KeyFile != dir+"/tls.key" {
			t.Errorf("config TLS %+v, want the files of the mount at %s", cfg.Server.TLS, dir)
		}
	})
	t.Run("datafile URLs only", func(t *testing.T) {
		m, err := render(t, values{sets: append(slices.Clone(withSecret), "datafiles.urls[0].sdk_key=k", "datafiles.urls[0].url=https://cdn.example.com/k.json")})
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, m)
		cfg, dep := checkService(t, o)
		if len(cfg.Datafiles) != 1 || cfg.Datafiles[0].URL != "https://cdn.example.com/k.json" {
			t.Errorf("config datafiles %+v, want the URL", cfg.Datafiles)
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == "datafiles" {
				t.Errorf("a datafiles volume without datafile files")
			}
		}
	})
	t.Run("Cassandra credentials", func(t *testing.T) {
		m, err := render(t, with("secret.cassandraUsername=sb", "secret.cassandraPassword=pw"))
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, m)
		s := only[*corev1.Secret](t, o)
		if s.StringData["cassandra-username"] != "sb" || s.StringData["cassandra-password"] != "pw" {
			t.Errorf("secret %v, want the credentials", s.StringData)
		}
		_, dep := checkService(t, o)
		checkSecretRefs(t, dep, s.Name)
	})
	t.Run("JWTs without static tokens", func(t *testing.T) {
		// Signing secrets for the API's issued tokens, an external
		// issuer's JWKS on the admin listener: the chart renders without
		// static tokens, the secrets go through the Secret (not the
		// ConfigMap), and the service reads JWT auth on both listeners.
		secret := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
		m, err := render(t, values{literals: withDatafile(t), sets: []string{
			"secret.authHmacSecrets={" + secret + "}",
			"config.server.admin_auth.jwks_url=https://issuer.example.com/.well-known/jwks.json",
		}})
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, m)
		s := only[*corev1.Secret](t, o)
		if s.StringData["auth-hmac-secrets"] != secret {
			t.Errorf("secret %v, want the signing secret under auth-hmac-secrets", s.StringData)
		}
		_, dep := checkService(t, o)
		checkSecretRefs(t, dep, s.Name)
		cm := configMap(t, o, "sb-stickybucket")
		if strings.Contains(cm.Data["stickybucket.yaml"], secret) {
			t.Error("the signing secret is in the ConfigMap")
		}
		env := map[string]string{}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
				if v, ok := s.StringData[r.SecretKeyRef.Key]; ok {
					env[e.Name] = v
				} else if r.SecretKeyRef.Optional == nil || !*r.SecretKeyRef.Optional {
					t.Errorf("%s needs key %s, which the Secret does not have: the pod would not start", e.Name, r.SecretKeyRef.Key)
				}
			}
		}
		cfg, err := config.Parse([]byte(cm.Data["stickybucket.yaml"]), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Server.Auth.Enabled() || !cfg.Server.AdminAuth.Enabled() || len(cfg.Server.Auth.HMACSecrets) != 1 {
			t.Errorf("auth %+v, admin auth %+v: want JWTs on both listeners", cfg.Server.Auth, cfg.Server.AdminAuth)
		}
		// JWTs on one listener only still need the other's tokens.
		_, err = render(t, values{literals: withDatafile(t), sets: []string{"secret.authHmacSecrets={" + secret + "}"}})
		if err == nil || !strings.Contains(err.Error(), "secret.adminAuthHmacSecrets") {
			t.Errorf("API JWTs without admin tokens: %v, want the secret message", err)
		}
	})
	t.Run("misspelt value", func(t *testing.T) {
		_, err := render(t, with("autoscalling.enabled=true"))
		if err == nil || !strings.Contains(err.Error(), "autoscalling") {
			t.Errorf("autoscalling.enabled: %v, want the schema to refuse it by name", err)
		}
	})
	t.Run("bad SDK key", func(t *testing.T) {
		_, err := render(t, values{sets: withSecret, literals: []string{"datafiles.inline.a/b={}"}})
		if err == nil || !strings.Contains(err.Error(), `SDK key "a/b"`) {
			t.Errorf("SDK key a/b: %v, want it refused by name", err)
		}
	})
}

// checkService checks what every rendering must hold, and returns the
// configuration (parsed by package config) and the Deployment.
func checkService(t *testing.T, o objects) (config.Config, *appsv1.Deployment) {
	t.Helper()
	dep := only[*appsv1.Deployment](t, o)
	svc := only[*corev1.Service](t, o)
	cm := configMap(t, o, "sb-stickybucket")
	cfg, err := config.Parse([]byte(cm.Data["stickybucket.yaml"]), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the ConfigMap's stickybucket.yaml does not load: %v\n%s", err, cm.Data["stickybucket.yaml"])
	}

	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !reflect.DeepEqual(c.Args, []string{"serve", "--config", mountOf(t, dep, "config") + "/stickybucket.yaml"}) {
		t.Errorf("args %q, want serve --config on the mounted file", c.Args)
	}
	if !reflect.DeepEqual(dep.Spec.Selector.MatchLabels, subsetOf(dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels)) ||
		!reflect.DeepEqual(svc.Spec.Selector, subsetOf(dep.Spec.Template.Labels, svc.Spec.Selector)) {
		t.Errorf("selectors %v (Deployment), %v (Service) do not match the pod's labels %v", dep.Spec.Selector.MatchLabels, svc.Spec.Selector, dep.Spec.Template.Labels)
	}

	// The ports the configuration listens on are the container's and
	// the Service's.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, addr := range map[string]string{"http": cfg.Server.Listen, "admin": cfg.Server.AdminListen} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("listen address %q: %v", addr, err)
		}
		if host != "" || port != strconv.Itoa(int(ports[name])) {
			t.Errorf("%s listens on %q, the container's %s port is %d; want every address, that port", name, addr, name, ports[name])
		}
		if !hasPort(svc, name) {
			t.Errorf("the Service has no %s port", name)
		}
	}

	// Probes: readiness on /ready, liveness (and start-up) on /health, all
	// on the admin port.
	for _, p := range []struct {
		probe *corev1.Probe
		kind  string
		path  string
	}{{c.ReadinessProbe, "readiness", "/ready"}, {c.LivenessProbe, "liveness", "/health"}, {c.StartupProbe, "startup", "/health"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s probe over HTTP", p.kind)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port.String() != "admin" {
			t.Errorf("%s probe GETs %s on port %s, want %s on admin", p.kind, g.Path, g.Port.String(), p.path)
		}
	}
	if rp := c.ReadinessProbe; rp != nil && rp.TimeoutSeconds < 2 {
		t.Errorf("readiness timeout %ds: /ready takes up to a second to answer", rp.TimeoutSeconds)
	}

	// Security: non-root, read-only root file system, no privilege
	// escalation, no capabilities, no service account token.
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		(sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("container security context %+v", sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the pod mounts a service account token it never uses")
	}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("volume %s mounted writable", m.Name)
		}
	}

	// Resources: requests for scheduling and the autoscaler, a memory limit.
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want CPU and memory requests and a memory limit", c.Resources)
	}
	// SIGTERM runs up to shutdownSteps steps, each within
	// server.shutdown_timeout (stack.Service.Close); the pod must be given
	// longer than all of them before SIGKILL.
	if grace := pod.TerminationGracePeriodSeconds; grace == nil || float64(*grace) <= shutdownSteps*cfg.Server.ShutdownTimeout.Std().Seconds() {
		got := "unset"
		if grace != nil {
			got = fmt.Sprint(*grace)
		}
		t.Errorf("terminationGracePeriodSeconds %s, not above %d × shutdown_timeout %s", got, shutdownSteps, cfg.Server.ShutdownTimeout.Std())
	}
	if dep.Spec.Template.Annotations["checksum/config"] == "" {
		t.Errorf("no checksum/config annotation: a changed configuration would not roll the pods")
	}
	return cfg, dep
}

// checkSecretRefs: the tokens and Cassandra credentials come from the
// Secret named secret, under the keys the chart documents.
func checkSecretRefs(t *testing.T, dep *appsv1.Deployment, secret string) {
	t.Helper()
	want := map[string]string{
		"STICKYBUCKET_API_TOKENS": "api-tokens", "STICKYBUCKET_ADMIN_TOKENS": "admin-tokens",
		"STICKYBUCKET_CASSANDRA_USERNAME": "cassandra-username", "STICKYBUCKET_CASSANDRA_PASSWORD": "cassandra-password",
		"STICKYBUCKET_AUTH_HMAC_SECRETS": "auth-hmac-secrets", "STICKYBUCKET_ADMIN_AUTH_HMAC_SECRETS": "admin-auth-hmac-secrets",
	}
	got := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		if e.ValueFrom.SecretKeyRef.Name != secret {
			t.Errorf("%s from Secret %s, want %s", e.Name, e.ValueFrom.SecretKeyRef.Name, secret)
		}
		got[e.Name] = e.ValueFrom.SecretKeyRef.Key
	}
	if !maps.Equal(got, want) {
		t.Errorf("environment from the Secret %v, want %v", got, want)
	}
}

// configMap returns the ConfigMap named name.
func configMap(t *testing.T, o objects, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range all[*corev1.ConfigMap](o) {
		if cm.Name == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}

// mountOf returns where the container mounts volume.
func mountOf(t *testing.T, dep *appsv1.Deployment, volume string) string {
	t.Helper()
	for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	t.Fatalf("volume %s is not mounted", volume)
	return ""
}

func hasPort(svc *corev1.Service, name string) bool {
	for _, p := range svc.Spec.Ports {
		if p.Name == name && p.TargetPort.String() == name {
			return true
		}
	}
	return false
}

// subsetOf returns the entries of labels named in keys.
func subsetOf(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// subset reports whether every entry of sel is in labels.
func subset(sel, labels map[string]string) bool {
	return len(sel) > 0 && maps.Equal(sel, subsetOf(labels, sel))
}
