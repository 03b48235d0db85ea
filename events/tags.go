package events

import (
	"math"
	"reflect"
)

// Tags the SDKs read a number from; both also stay in the event's tags.
const (
	revenueTag = "revenue"
	valueTag   = "value"
)

// revenue returns the revenue tag as the official Go SDK (and so Agent)
// reads it: any number, truncated toward zero to an integer (12.9 is 12);
// strings, booleans and other values are not revenue. A number that no
// int64 holds (or not finite) is not revenue either, where the SDK would
// send whatever the conversion made of it.
func revenue(tags map[string]any) (int64, bool) {
	v, ok := tags[revenueTag]
	if !ok {
		return 0, false
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), true
		}
	case reflect.Float32, reflect.Float64:
		f := math.Trunc(rv.Float())
		// -2^63 is exact in a float64; 2^63 is the first value beyond.
		if f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), true
		}
	}
	return 0, false
}

// value returns the value tag as the official Go SDK reads it: any finite
// number (or a pointer to one), as a float64.
func value(tags map[string]any) (float64, bool) {
	v, ok := tags[valueTag]
	if !ok || v == nil {
		return 0, false
	}
	rv := reflect.Indirect(reflect.ValueOf(v))
	var f float64
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f = float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		f = float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		f = rv.Float()
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// validAttribute reports whether an attribute value is sent: a string, a
// boolean, or a finite number within ±2^53, as the SDKs check.
func validAttribute(v any) bool {
	var f float64
	switch x := v.(type) {
	case string, bool:
		return true
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		return false
	}
	return !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) <= 1<<53
}
