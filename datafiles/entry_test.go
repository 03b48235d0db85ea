package datafiles

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
)

// TestEntryOptimizelyConfigOnce: an Entry builds its OptimizelyConfig once,
// on first use, and every caller, concurrent ones included, gets those
// same bytes; the sdkKey is the key the datafile is served under when the
// datafile names none.
func TestEntryOptimizelyConfigOnce(t *testing.T) {
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{SDKKey: "sample", Raw: raw}
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := e.OptimizelyConfig()
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	for i, b := range got {
		if len(b) == 0 || &b[0] != &got[0][0] {
			t.Fatalf("call %d got other bytes: the config was built again", i)
		}
	}
	var oc struct {
		SDKKey     string `json:"sdkKey"`
		Attributes []any  `json:"attributes"`
	}
	if err := json.Unmarshal(got[0], &oc); err != nil || oc.SDKKey != "sample" || len(oc.Attributes) == 0 {
		t.Errorf("config %s (%v)", got[0], err)
	}
}
