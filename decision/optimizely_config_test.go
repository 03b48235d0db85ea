package decision

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestOptimizelyConfig(t *testing.T) {
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	df, err := ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := NewOptimizelyConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if oc.Revision != df.Revision() {
		t.Errorf("revision %q, want %q", oc.Revision, df.Revision())
	}
	exp, ok := oc.ExperimentsMap["search_experiment"]
	if !ok || exp.ID != "3003" || len(exp.VariationsMap) != 2 || exp.VariationsMap["semantic"].Key != "semantic" {
		t.Errorf("experimentsMap[search_experiment] = %+v", exp)
	}
	f, ok := oc.FeaturesMap["new_search"]
	if !ok || len(f.ExperimentRules) != 1 || f.ExperimentRules[0].Key != "search_experiment" || len(f.DeliveryRules) != 1 {
		t.Fatalf("featuresMap[new_search] = %+v", f)
	}
	if _, ok := f.ExperimentsMap["search_experiment"]; !ok {
		t.Errorf("feature experimentsMap lacks its experiment: %+v", f.ExperimentsMap)
	}
	if len(oc.Attributes) != 3 || oc.Attributes[0] != (OptimizelyAttribute{ID: "1001", Key: "country"}) {
		t.Errorf("attributes %v, want the datafile's", oc.Attributes)
	}
	// The JSON has every field of the SDK's OptimizelyConfig.
	b, err := OptimizelyConfigJSON(raw, "sample")
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"environmentKey", "sdkKey", "revision", "experimentsMap", "featuresMap", "attributes", "audiences", "events"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if back["sdkKey"] != "sample" {
		t.Errorf("sdkKey %v, want the key it is served under when the datafile names none", back["sdkKey"])
	}
}

// TestOptimizelyConfigSDKKey: the datafile's own sdkKey wins over the key
// it is served under, as in Agent.
func TestOptimizelyConfigSDKKey(t *testing.T) {
	raw := []byte(`{"version": "4", "revision": "1", "sdkKey": "from-the-datafile", "environmentKey": "production"}`)
	b, err := OptimizelyConfigJSON(raw, "served-as")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sdkKey":"from-the-datafile"`) || !strings.Contains(string(b), `"environmentKey":"production"`) {
		t.Errorf("config %s", b)
	}
}

func TestOptimizelyConfigVariables(t *testing.T) {
	raw, err := os.ReadFile("testdata/sticky.json")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := NewOptimizelyConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	f := oc.FeaturesMap["flag_full"]
	if v := f.VariablesMap["max_items"]; v.Type != "integer" || v.Value != "10" {
		t.Errorf("default max_items = %+v, want integer 10", v)
	}
	on := f.ExperimentsMap["exp_feature"].VariationsMap["on"].VariablesMap
	if on["max_items"].Value != "7" || on["banner"].Value != "true" {
		t.Errorf("variation on's variables = %+v, want max_items 7, banner true", on)
	}
	off := f.ExperimentsMap["exp_feature"].VariationsMap["off"].VariablesMap
	if off["max_items"].Value != "10" {
		t.Errorf("variation off (feature disabled) serves max_items %q, want the default 10", off["max_items"].Value)
	}
}

func TestOptimizelyConfigBadJSON(t *testing.T) {
	if _, err := NewOptimizelyConfig([]byte(`{"version": "4",`)); err == nil || !strings.Contains(err.Error(), "decode the datafile") {
		t.Errorf("err = %v, want one saying the datafile does not decode", err)
	}
}
