// Package monitoring holds the tests of the Grafana dashboard
// (grafana-dashboard.json) and the Prometheus alerting rules
// (alerts.yaml) next to it: every metric and label they use must be one
// the service exports — gathered from a registry with server.NewMetrics,
// the Go and process collectors and the layers stack.Open registers for a
// Cassandra-kind configuration (cache, async saves, breaker) — and the
// rules file must have Prometheus's rule-group shape, decoded strictly.
//
// The package has no code of its own. PromQL is read by a small lexer in
// the tests (metric names, their label matchers, grouping labels), not by
// Prometheus's parser, whose module would upgrade half of this module's
// dependencies.
package monitoring
