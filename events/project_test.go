package events

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseProject(t *testing.T) {
	p, err := ParseProject([]byte(`{"version":"4","ACCOUNTID":"12001","projectId":"12002","revision":"7","anonymizeIP":true,
		"botFiltering":true,"sendFlagDecisions":true,"experiments":[{"id":"1"}],
		"attributes":[{"id":"a1","key":"plan"},{"id":"a9","key":"plan"}],"events":[{"id":"e1","key":"buy","experimentIds":["1"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.AccountID() != "12001" || p.ProjectID() != "12002" || p.Revision() != "7" || !p.anonymizeIP || !p.SendFlagDecisions() {
		t.Errorf("header: %+v", p)
	}
	if !p.botFiltering || !p.botFilteringSet {
		t.Error("botFiltering true not read")
	}
	if id, ok := p.EventID("buy"); !ok || id != "e1" {
		t.Errorf("EventID(buy) = %q, %v", id, ok)
	}
	if _, ok := p.EventID("sell"); ok {
		t.Error("an undeclared event has an ID")
	}
	if p.attributes["plan"] != "a9" {
		t.Errorf("the last of attributes sharing a key should win: %q", p.attributes["plan"])
	}

	bare, err := ParseProject([]byte(`{"projectId":"1","revision":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if bare.botFilteringSet || bare.SendFlagDecisions() {
		t.Errorf("a datafile without botFiltering or sendFlagDecisions: %+v", bare)
	}

	for _, bad := range []string{`{"botFiltering":"yes"}`, `{"events":{}}`, `[`, `{"projectId":12}`} {
		if _, err := ParseProject([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "events: datafile:") {
			t.Errorf("ParseProject(%s): error %v", bad, err)
		}
	}
}

// The SDKs send an impression for a rollout's decision, or one that served
// no variation, only with sendFlagDecisions.
func TestWantsImpression(t *testing.T) {
	rollout := Decision{CampaignID: "6002", ExperimentID: "7003", VariationID: "4009", RuleType: RuleRollout, Enabled: true}
	none := Decision{FlagKey: "dark_mode", RuleType: RuleRollout}
	experiment := Decision{CampaignID: "9000", ExperimentID: "3001", VariationID: "4001", RuleType: RuleExperiment, Enabled: true}
	off := testProject(t, "p", "1", "")
	on := testProject(t, "p", "1", `,"sendFlagDecisions":true`)
	for _, c := range []struct {
		d       Decision
		off, on bool
	}{
		{featureTest, true, true},
		{experiment, true, true},
		{rollout, false, true},
		{none, false, true},
		{Decision{RuleType: RuleFeatureTest, FlagKey: "f"}, false, true}, // no variation
	} {
		if got := off.wantsImpression(&c.d); got != c.off {
			t.Errorf("%+v without sendFlagDecisions: %v", c.d, got)
		}
		if got := on.wantsImpression(&c.d); got != c.on {
			t.Errorf("%+v with sendFlagDecisions: %v", c.d, got)
		}
	}
}

// Revenue and value are read from the tags as the official Go SDK reads
// them.
func TestRevenueAndValue(t *testing.T) {
	for _, c := range []struct {
		tag          any
		revenue      int64
		revenueOK    bool
		value        float64
		valueOK      bool
		illustration string
	}{
		{float64(1000), 1000, true, 1000, true, "JSON number"},
		{12.9, 12, true, 12.9, true, "truncated toward zero"},
		{-12.9, -12, true, -12.9, true, "negative"},
		{int64(1) << 62, 1 << 62, true, float64(int64(1) << 62), true, "Go int64"},
		{uint64(math.MaxUint64), 0, false, float64(uint64(math.MaxUint64)), true, "uint64 beyond int64"},
		{1e300, 0, false, 1e300, true, "beyond int64"},
		{math.NaN(), 0, false, 0, false, "NaN"},
		{math.Inf(1), 0, false, 0, false, "infinite"},
		{"100", 0, false, 0, false, "a string"},
		{true, 0, false, 0, false, "a boolean"},
		{nil, 0, false, 0, false, "null"},
		{map[string]any{}, 0, false, 0, false, "an object"},
		{float32(2.5), 2, true, 2.5, true, "float32"},
	} {
		r, rok := revenue(map[string]any{"revenue": c.tag})
		if r != c.revenue || rok != c.revenueOK {
			t.Errorf("%s: revenue %d, %v; want %d, %v", c.illustration, r, rok, c.revenue, c.revenueOK)
		}
		v, vok := value(map[string]any{"value": c.tag})
		if v != c.value || vok != c.valueOK {
			t.Errorf("%s: value %v, %v; want %v, %v", c.illustration, v, vok, c.value, c.valueOK)
		}
	}
	if _, ok := revenue(nil); ok {
		t.Error("revenue without tags")
	}
	f := 3.5
	if v, ok := value(map[string]any{"value": &f}); !ok || v != 3.5 {
		t.Errorf("a pointer to a number: %v, %v", v, ok)
	}
}

func TestVisitorAttributes(t *testing.T) {
	p := testProject(t, "p", "1", "")
	got := attributesOf(t, p, map[string]any{
		"plan": "pro", "age": float64(31), "unknown": "x", "$opt_bucketing_id": "b-7", "$opt_user_agent": "bot",
		"nested": map[string]any{"a": 1}, "list": []any{1}, "null": nil, "big": float64(1 << 54), "plan2": math.Inf(1),
	})
	const want = `[{"entity_id":"$opt_bucketing_id","key":"$opt_bucketing_id","type":"custom","value":"b-7"},` +
		`{"entity_id":"$opt_user_agent","key":"$opt_user_agent","type":"custom","value":"bot"},` +
		`{"entity_id":"a2","key":"age","type":"custom","value":31},` +
		`{"entity_id":"a1","key":"plan","type":"custom","value":"pro"},` +
		`{"entity_id":"$opt_bot_filtering","key":"$opt_bot_filtering","type":"custom","value":false}]`
	if got != want {
		t.Errorf("attributes\n%s\nwant\n%s", got, want)
	}
	// A known attribute with an out-of-range number is left out; without
	// botFiltering in the datafile, nothing is added.
	bare, err := ParseProject([]byte(`{"attributes":[{"id":"a2","key":"age"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := attributesOf(t, bare, map[string]any{"age": float64(1 << 54)}); got != "[]" {
		t.Errorf("want an empty list: %s", got)
	}
}

// attributesOf returns the attributes list p writes for attrs, checked to
// be JSON.
func attributesOf(t *testing.T, p *Project, attrs map[string]any) string {
	t.Helper()
	b := append(p.appendAttributes([]byte("["), attrs), ']')
	if !json.Valid(b) {
		t.Fatalf("not JSON: %s", b)
	}
	return string(b)
}
