package ups

import (
	"testing"
	"time"
)

func TestRetentionStamp(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	decided := now.Add(-48 * time.Hour)
	r := Retention{Default: time.Hour, PerExperiment: map[string]time.Duration{"forever": 0, "day": 24 * time.Hour}}
	for _, tc := range []struct {
		expID   string
		in      Assignment
		decided time.Time
		expires time.Time
	}{
		{"e", Assignment{VariationID: "v"}, now, now.Add(time.Hour)},
		{"e", Assignment{VariationID: "v", DecidedAt: decided, ExpiresAt: now.Add(time.Minute)}, decided, now.Add(time.Hour)},
		{"day", Assignment{VariationID: "v"}, now, now.Add(24 * time.Hour)},
		{"forever", Assignment{VariationID: "v", ExpiresAt: now}, now, time.Time{}},
	} {
		got := r.Stamp(tc.expID, tc.in, now)
		if got.VariationID != "v" || !got.DecidedAt.Equal(tc.decided) || !got.ExpiresAt.Equal(tc.expires) {
			t.Errorf("Stamp(%s, %+v) = %+v, want decided %v, expires %v", tc.expID, tc.in, got, tc.decided, tc.expires)
		}
	}
	if got := (Retention{}).Stamp("e", Assignment{VariationID: "v"}, now); !got.ExpiresAt.IsZero() {
		t.Errorf("the zero Retention stamped an expiry: %+v", got)
	}
}
