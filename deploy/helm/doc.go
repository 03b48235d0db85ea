// Package helm holds the tests of the Helm chart in stickybucket/: they
// render it with Helm's own Go library (client-only: no cluster), for the
// default values and each region's values file, decode every manifest
// strictly into the Kubernetes API types (an unknown or duplicated field
// fails), and check what the service depends on: probes on the admin
// listener, the security context, the configuration (parsed by package
// config, as serve would), the Secret's keys, the disruption budget, and
// the autoscaler and ServiceMonitor only when enabled.
//
// The package has no code of its own; its dependencies (helm.sh/helm/v3,
// k8s.io/api, the prometheus-operator types) are used by its tests only.
package helm
