package helm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
)

// chartDir is the chart under test.
const chartDir = "stickybucket"

// release is the release every test renders.
var release = chartutil.ReleaseOptions{Name: "sb", Namespace: "experiments", IsInstall: true, Revision: 1}

// strictDecoder decodes YAML manifests into the Kubernetes API types of
// every kind the chart may render, refusing unknown and duplicated fields.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatalf("building the scheme: %v", err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
}

// values are the options of one render, as on helm's command line.
type values struct {
	files    []string // -f, relative to the chart
	sets     []string // --set
	literals []string // --set-literal: the value taken whole (a datafile's JSON)
}

// render renders the chart as `helm template` would with v, and returns
// the manifests by template file (NOTES.txt and empty files left out).
func render(t *testing.T, v values) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range v.files {
		fv, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		vals = chartutil.MergeTables(fv.AsMap(), vals)
	}
	for _, s := range v.sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	for _, s := range v.literals {
		if err := strvals.ParseLiteralInto(s, vals); err != nil {
			t.Fatalf("--set-literal %s: %v", s, err)
		}
	}
	caps := capabilities(t)
	if !chartutil.IsCompatibleRange(chrt.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("the chart's kubeVersion %q does not admit %s", chrt.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	top, err := chartutil.ToRenderValues(chrt, vals, release, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	// Strict: a template that reads a value the chart does not define
	// fails, so a misspelt key in a template cannot pass unnoticed.
	out, err := engine.Engine{Strict: true}.Render(chrt, top)
	if err != nil {
		return nil, err
	}
	manifests := map[string]string{}
	for name, text := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(text) == "" {
			continue
		}
		manifests[name] = text
	}
	return manifests, nil
}

// capabilities are Helm's defaults with the Kubernetes version whose API
// types the test decodes into: k8s.io/api v0.X.Y in go.mod is Kubernetes
// v1.X.Y. (Helm's library default, without the version its CLI is built
// with, is v1.20.)
func capabilities(t *testing.T) *chartutil.Capabilities {
	t.Helper()
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatalf("reading go.mod for the version of k8s.io/api: %v", err)
	}
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "k8s.io/api" {
			continue
		}
		v, ok := strings.CutPrefix(f[1], "v0.")
		if !ok {
			t.Fatalf("go.mod: k8s.io/api %s, want v0.X.Y", f[1])
		}
		caps := *chartutil.DefaultCapabilities
		caps.KubeVersion = chartutil.KubeVersion{Version: "v1." + v, Major: "1", Minor: strings.Split(v, ".")[0]}
		return &caps
	}
	t.Fatal("go.mod does not require k8s.io/api")
	return nil
}

// objects is a rendered release, decoded.
type objects struct {
	all []runtime.Object
}

// decode decodes every document of every manifest strictly and checks
// names and labels as the API server would.
func decode(t *testing.T, manifests map[string]string) objects {
	t.Helper()
	strict := strictDecoder(t)
	var o objects
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range manifests {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		for _, doc := range releaseutil.SplitManifests(manifests[name]) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, gvk, err := strict.Decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatalf("%s: %s has no metadata: %v", name, gvk, err)
			}
			for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
				t.Errorf("%s: %s name %q: %s", name, gvk.Kind, m.GetName(), msg)
			}
			if m.GetNamespace() != "" {
				t.Errorf("%s: %s sets namespace %q; the release's applies", name, gvk.Kind, m.GetNamespace())
			}
			for k, v := range m.GetLabels() {
				for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
					t.Errorf("%s: %s label %s=%s: %s", name, gvk.Kind, k, v, msg)
				}
			}
			o.all = append(o.all, obj)
		}
	}
	return o
}

// stripComments drops YAML comment lines, so a document of comments only
// counts as empty.
func stripComments(doc string) string {
	var b bytes.Buffer
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// only returns the one object of type T, failing unless there is exactly
// one.
func only[T runtime.Object](t *testing.T, o objects) T {
	t.Helper()
	found := all[T](o)
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

// all returns the objects of type T.
func all[T runtime.Object](o objects) []T {
	var found []T
	for _, obj := range o.all {
		if v, ok := obj.(T); ok {
			found = append(found, v)
		}
	}
	return found
}
