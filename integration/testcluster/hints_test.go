package testcluster

import (
	"maps"
	"testing"
	"time"
)

func TestCountHintFiles(t *testing.T) {
	const id1, id2 = "983b06bc-94ab-4ace-bf8a-984d36a6d4b7", "72679f1c-22d8-41d0-813a-1eadb2b334e7"
	got := countHintFiles([]string{
		id1 + "-1795681836410-2.hints",
		id1 + "-1795681836410-2.crc32",
		id1 + "-1795681846414-2.hints",
		id2 + "-1795681846999-2.hints",
		"not-a-uuid-at-all-0000000000000000000-1-2.hints",
		"stray.hints",
	})
	if want := map[string]int{id1: 2, id2: 1}; !maps.Equal(got, want) {
		t.Errorf("countHintFiles = %v, want %v", got, want)
	}
}

func TestParseCassandraDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10000ms": 10 * time.Second, "10s": 10 * time.Second, "1m": time.Minute, "3h": 3 * time.Hour,
		"1d": 24 * time.Hour, "500us": 500 * time.Microsecond, " 7MS ": 7 * time.Millisecond,
	} {
		got, err := parseCassandraDuration(in)
		if err != nil || got != want {
			t.Errorf("parseCassandraDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ms", "10", "10 parsecs", "-5s", "99999999999999999999s"} {
		if _, err := parseCassandraDuration(bad); err == nil {
			t.Errorf("parseCassandraDuration(%q) succeeded", bad)
		}
	}
}

func TestHintsString(t *testing.T) {
	h := Hints{Holder: "127.0.0.2", TargetID: "x", Queued: 1, Files: 2}
	if got, want := h.String(), "127.0.0.2 holds hints for host x (1 queued, 2 on disk)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	h.Target, h.Files = "127.0.0.3", -1
	if got, want := h.String(), "127.0.0.2 holds hints for 127.0.0.3 (1 queued, unknown on disk)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
