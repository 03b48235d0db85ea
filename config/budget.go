package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// BudgetAuto as store.budget makes the budget follow the store's latency.
const BudgetAuto = "auto"

// Budget is store.budget: "auto" (the default), which follows the
// store's observed latency within store.budget_floor and
// store.budget_ceiling, or a fixed duration.
type Budget struct {
	Auto  bool
	Fixed Duration
}

// ParseBudget parses "auto" or a duration.
func ParseBudget(s string) (Budget, error) {
	if strings.EqualFold(strings.TrimSpace(s), BudgetAuto) {
		return Budget{Auto: true}, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return Budget{}, fmt.Errorf("%w, or %s", err, BudgetAuto)
	}
	return Budget{Fixed: d}, nil
}

// UnmarshalYAML accepts "auto" or a duration.
func (b *Budget) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected %s or a duration such as 250ms", n.Line, BudgetAuto)}}
	}
	v, err := ParseBudget(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

// MarshalYAML writes "auto" or the duration.
func (b Budget) MarshalYAML() (any, error) { return b.String(), nil }

// String returns "auto" or the duration in Go syntax.
func (b Budget) String() string {
	if b.Auto {
		return BudgetAuto
	}
	return time.Duration(b.Fixed).String()
}
