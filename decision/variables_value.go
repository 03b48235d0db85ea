package decision

import (
	"encoding/json"
	"iter"
)

// Variables are the variable values a flag decision serves: the
// variation's when it enables the feature, the flag's defaults otherwise.
// Values are typed as the official SDK types them: boolean → bool, integer
// → int, double → float64, string → string, json → decoded JSON
// (map[string]any, []any, …).
//
// Variables reads values computed when the datafile was loaded, so a
// decision builds no map: Get, All and Len allocate nothing for scalar
// values; a JSON value is handed out as a deep copy the caller owns, and
// Map builds a fresh map. The zero value holds no variable (a decision
// made with ExcludeVariables).
type Variables struct {
	f    *flag
	vals []any
	// set overrides vals for the variables a variation sets, when its
	// values are stored sparsely (see variationValues).
	set []setValue
}

// Len returns the number of variables.
func (v Variables) Len() int {
	if v.f == nil {
		return 0
	}
	return len(v.f.variables)
}

// Get returns the value of the variable key.
func (v Variables) Get(key string) (any, bool) {
	if v.f == nil {
		return nil, false
	}
	for i, vr := range v.f.variables {
		if vr.key == key {
			return v.value(i), true
		}
	}
	return nil, false
}

// All yields every variable's key and value, in the datafile's order.
func (v Variables) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		if v.f == nil {
			return
		}
		for i, vr := range v.f.variables {
			if !yield(vr.key, v.value(i)) {
				return
			}
		}
	}
}

// Map returns the variables as a new map the caller owns; nil when there
// are none.
func (v Variables) Map() map[string]any {
	if v.Len() == 0 {
		return nil
	}
	m := make(map[string]any, v.Len())
	for k, x := range v.All() {
		m[k] = x
	}
	return m
}

// MarshalJSON writes the variables as a JSON object.
func (v Variables) MarshalJSON() ([]byte, error) {
	if v.Len() == 0 {
		return []byte("{}"), nil
	}
	return json.Marshal(v.Map())
}

func (v Variables) value(i int) any {
	x := v.vals[i]
	for _, s := range v.set {
		if s.i == i {
			x = s.v
			break
		}
	}
	return servedValue(v.f.variables[i].typ, x)
}
