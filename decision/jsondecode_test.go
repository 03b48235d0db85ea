package decision

import "testing"

func TestCountElements(t *testing.T) {
	for list, want := range map[string]int{
		``: 0, `null`: 0, `[]`: 0, ` [ ] `: 0, `[1]`: 1, `[1, 2]`: 2, `[{}, []]`: 2, `[{"a": [1, 2]}]`: 1,
		`["a,b", "c"]`: 2, `["\",", 1]`: 2, `[[1, 2], [3]]`: 2, `[""]`: 1, `[true,false,null]`: 3, "[\n{}\n]": 1,
	} {
		if got := countElements([]byte(list)); got != want {
			t.Errorf("countElements(%s) = %d, want %d", list, got, want)
		}
	}
}

func TestNestedDeeper(t *testing.T) {
	for _, tc := range []struct {
		json   string
		max    int
		deeper bool
	}{
		{`[]`, 1, false}, {`[[]]`, 1, true}, {`[{}]`, 2, false}, {`[{"a": [1]}]`, 2, true},
		{`["[[[["]`, 1, false}, {`["\"[["]`, 1, false}, {`"[[["`, 0, false}, {`[[`, 1, true},
	} {
		if got := nestedDeeper([]byte(tc.json), tc.max); got != tc.deeper {
			t.Errorf("nestedDeeper(%s, %d) = %v", tc.json, tc.max, got)
		}
	}
}
