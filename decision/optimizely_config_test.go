package decision

import (
	"encoding/json"
	"os"
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
	oc := df.OptimizelyConfig()
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
	// Round trip through JSON with the SDKs' field names.
	b, _ := json.Marshal(oc)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"revision", "experimentsMap", "featuresMap", "sdkKey", "environmentKey"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func TestOptimizelyConfigVariables(t *testing.T) {
	df := loadDatafile(t, "sticky.json")
	f := df.OptimizelyConfig().FeaturesMap["flag_full"]
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
