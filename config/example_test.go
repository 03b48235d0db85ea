package config_test

import (
	"fmt"

	"github.com/stickybucket/stickybucket/config"
)

func Example() {
	yaml := []byte(`
environment: production
environments:
  production:
    retention: 90d
    retention_overrides: {"30001": 0}
    keyspace: stickybucket
    replication:
      class: NetworkTopologyStrategy
      datacenters: {eu-west: 3, us-east: 3}
    local_dc: eu-west
`)
	env := map[string]string{"STICKYBUCKET_LOCAL_DC": "us-east"}
	cfg, err := config.Parse(yaml, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		fmt.Println(err)
		return
	}
	prod, _ := cfg.Active()
	retention := prod.RetentionPolicy()
	fmt.Println(retention.For("any experiment"), retention.For("30001"), prod.LocalDC, prod.ReadConsistency)
	// Output: 2160h0m0s 0s us-east LOCAL_QUORUM
}
