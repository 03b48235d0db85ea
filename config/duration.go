package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stickybucket/stickybucket/internal/clip"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads Go syntax ("90m", "36h") and also
// whole days ("30d"), the unit retention is usually thought in.
type Duration time.Duration

// ParseDuration parses Go duration syntax or a whole number of days.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole, non-negative number", clipValue(s))
		}
		const maxDays = int64(1<<63-1) / int64(24*time.Hour)
		if n > maxDays {
			return 0, fmt.Errorf("invalid duration %q: too large", clipValue(s))
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 36h or 90m, or whole days such as 30d", clipValue(s))
	}
	return Duration(d), nil
}

// UnmarshalYAML accepts a string duration or the number 0. Its errors are
// *yaml.TypeError, so the decoder reports them with every other problem
// of the file rather than stopping at the first.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration such as 720h or 30d", n.Line)}}
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalYAML writes the Go syntax form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// maxEcho bounds how much of a value an error message repeats.
const maxEcho = 64

// clipValue cuts s to its first maxEcho bytes (on a rune boundary) and
// "…" when it is longer.
func clipValue(s string) string { return clipTo(s, maxEcho) }

// clipTo is clipValue with a bound of max bytes.
func clipTo(s string, max int) string { return clip.To(s, max) }
