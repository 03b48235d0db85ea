package monitoring

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// ruleFile is Prometheus's rule file (rule_files), as its rulefmt
// package defines it; decoded with unknown keys refused.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name        string            `yaml:"name"`
	Interval    string            `yaml:"interval,omitempty"`
	QueryOffset string            `yaml:"query_offset,omitempty"`
	Limit       int               `yaml:"limit,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Rules       []rule            `yaml:"rules"`
}

type rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// readRules decodes the rule file strictly: one document, known keys only.
func readRules(data []byte) (ruleFile, error) {
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return f, errors.New("more than one YAML document")
	}
	return f, nil
}

// ruleTemplate parses an annotation or label as Prometheus expands it: a
// Go template with $labels, $externalLabels and $value defined, and its
// functions (stubs here: only parsing is checked).
func ruleTemplate(text string) error {
	stub := func(...any) string { return "" }
	funcs := template.FuncMap{}
	for _, f := range strings.Fields(`humanize humanize1024 humanizeDuration humanizePercentage humanizeTimestamp
		query first label value strvalue args safeHtml match reReplaceAll title toUpper toLower graphLink
		tableLink sortByLabel stripPort stripDomain externalURL pathPrefix parseDuration toTime now`) {
		funcs[f] = stub
	}
	_, err := template.New("").Funcs(funcs).Option("missingkey=zero").
		Parse("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}" + text)
	return err
}

// TestAlertRules: alerts.yaml is a valid rule file whose every expression
// reads metrics and labels the service exports, with a severity, a
// summary and a description on every alert.
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := readRules(data)
	if err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	have := exported(t)
	groups := map[string]bool{}
	alerts := 0
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, d := range []string{g.Interval, g.QueryOffset} {
			if _, err := parseDurationIfSet(d); err != nil {
				t.Errorf("group %s: %v", g.Name, err)
			}
		}
		for i, r := range g.Rules {
			where := g.Name + "/" + r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s (rule %d): exactly one of alert and record", where, i)
			}
			if r.Record != "" && !model.IsValidLegacyMetricName(r.Record) {
				t.Errorf("%s: record %q is not a metric name", where, r.Record)
			}
			if r.Record != "" && (r.For != "" || r.KeepFiringFor != "" || len(r.Annotations) > 0) {
				t.Errorf("%s: a recording rule with for, keep_firing_for or annotations", where)
			}
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", where)
			}
			for _, p := range checkQuery(r.Expr, have) {
				t.Errorf("%s: %s", where, p)
			}
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if _, err := parseDurationIfSet(d); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			for k, v := range r.Labels {
				if !model.LabelName(k).IsValidLegacy() {
					t.Errorf("%s: label name %q", where, k)
				}
				if err := ruleTemplate(v); err != nil {
					t.Errorf("%s: label %s: %v", where, k, err)
				}
			}
			for k, v := range r.Annotations {
				if !model.LabelName(k).IsValidLegacy() {
					t.Errorf("%s: annotation name %q", where, k)
				}
				if err := ruleTemplate(v); err != nil {
					t.Errorf("%s: annotation %s: %v", where, k, err)
				}
			}
			if r.Alert == "" {
				continue
			}
			alerts++
			if !model.LabelName(r.Alert).IsValidLegacy() {
				t.Errorf("%s: alert name %q: want letters, digits and underscores", where, r.Alert)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description wanted", where)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts")
	}
	// What the alerts must cover.
	all := string(data)
	for _, m := range []string{
		"stickybucket_store_errors_total", "stickybucket_decisions_by_profile_total",
		"stickybucket_async_dropped_total", "stickybucket_async_failed_total", "stickybucket_async_queue_depth",
		"stickybucket_breaker_open", `stickybucket_datafile_loads_total{result="failed"}`,
		"histogram_quantile(0.99", "stickybucket_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no alert uses %s", m)
		}
	}
}

// parseDurationIfSet parses a Prometheus duration, empty meaning unset.
func parseDurationIfSet(s string) (model.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return model.ParseDuration(s)
}

// TestRuleChecksCatchMistakes: the checks refuse what they are for.
func TestRuleChecksCatchMistakes(t *testing.T) {
	if _, err := readRules([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        summary: x\n")); err == nil {
		t.Error("an unknown key (summary outside annotations) was accepted")
	}
	have := exported(t)
	for expr, want := range map[string]string{
		`rate(stickybucket_store_error_total[5m])`:                                "not exported",
		`rate(stickybucket_store_errors_total{reason="x"}[5m])`:                   "no label reason",
		`sum by (sdk_key) (rate(stickybucket_store_errors_total[5m]))`:            "grouping by sdk_key",
		`stickybucket_breaker_open_bucket`:                                        "not exported",
		`histogram_quantile(0.99, rate(stickybucket_decisions_total_bucket[5m]))`: "not exported",
	} {
		p := checkQuery(expr, have)
		if len(p) == 0 || !strings.Contains(strings.Join(p, "; "), want) {
			t.Errorf("%s: %v, want %q", expr, p, want)
		}
	}
	if p := checkQuery(`histogram_quantile(0.99, sum by (le, route) (rate(stickybucket_http_request_duration_seconds_bucket{route="decide"}[5m])))`, have); len(p) != 0 {
		t.Errorf("a histogram's buckets: %v", p)
	}
	if err := ruleTemplate("{{ $labels.job }} {{ $value | humanizePercentage }"); err == nil {
		t.Error("a broken annotation template was accepted")
	}
}
