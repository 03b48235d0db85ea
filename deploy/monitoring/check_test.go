package monitoring

import (
	"fmt"
	"strings"
)

// targetLabels are added by Prometheus when it scrapes (job, instance)
// and by the prometheus-operator's ServiceMonitor (the rest): queries may
// select and group by them though the service does not export them.
var targetLabels = toSet(`job instance namespace pod service container endpoint`)

// histogramSuffixes are the series of a histogram.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// checkQuery returns what in expr the service does not export: metric
// names, labels of a selector the metric does not have, grouping labels
// none of the expression's metrics has.
func checkQuery(expr string, have map[string]metric) []string {
	q, err := readPromQL(expr)
	if err != nil {
		return []string{fmt.Sprintf("cannot read %q: %v", expr, err)}
	}
	var problems []string
	known := map[string]bool{}
	for _, s := range q.selectors {
		m, ok := series(s.name, have)
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not exported", s.name))
			continue
		}
		for l := range m.labels {
			known[l] = true
		}
		for _, l := range s.labels {
			if !m.labels[l] && !targetLabels[l] {
				problems = append(problems, fmt.Sprintf("%s has no label %s", s.name, l))
			}
		}
	}
	for _, l := range q.grouping {
		if !known[l] && !targetLabels[l] {
			problems = append(problems, fmt.Sprintf("grouping by %s, which none of its metrics has", l))
		}
	}
	return problems
}

// series returns the metric a series name belongs to: the metric of that
// name, or the histogram whose _bucket (with le), _sum or _count it is.
func series(name string, have map[string]metric) (metric, bool) {
	if m, ok := have[name]; ok {
		return m, true
	}
	for _, suffix := range histogramSuffixes {
		base, ok := strings.CutSuffix(name, suffix)
		if m, found := have[base]; ok && found && m.histogram {
			labels := map[string]bool{}
			for l := range m.labels {
				labels[l] = true
			}
			if suffix == "_bucket" {
				labels["le"] = true
			}
			return metric{labels: labels, histogram: true}, true
		}
	}
	return metric{}, false
}
