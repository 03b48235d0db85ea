package ups

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProfileUnmarshalValid(t *testing.T) {
	tests := []struct {
		file string
		want Profile
	}{
		{"valid.json", Profile{UserID: "user-1", Assignments: map[string]Assignment{
			"1001": {VariationID: "2001"}, "1002": {VariationID: "2005"},
		}}},
		{"valid_empty_map.json", Profile{UserID: "user-2", Assignments: map[string]Assignment{}}},
		{"valid_unknown_keys.json", Profile{UserID: "user-3", Assignments: map[string]Assignment{
			"1001": {VariationID: "2001"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got Profile
			if err := json.Unmarshal(readFixture(t, tt.file), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProfileUnmarshalInvalid(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string // the field the error must name
	}{
		{"missing_user_id.json", `missing required field "user_id"`},
		{"missing_bucket_map.json", `missing required field "experiment_bucket_map"`},
		{"user_id_number.json", `field "user_id": must be a string, got 42`},
		{"user_id_null.json", `field "user_id": must be a string, got null`},
		{"user_id_empty.json", "user_id is empty"},
		{"bucket_map_array.json", `field "experiment_bucket_map" must be an object`},
		{"bucket_map_null.json", `field "experiment_bucket_map" must be an object`},
		{"entry_not_object.json", `experiment_bucket_map["1001"] must be an object`},
		{"entry_missing_variation.json", `experiment_bucket_map["1001"]: missing required field "variation_id"`},
		{"variation_id_number.json", `experiment_bucket_map["1001"].variation_id: must be a string, got 2001`},
		{"variation_id_empty.json", `experiment "1001": invalid profile: variation_id is empty`},
		{"experiment_id_empty.json", "experiment ID is empty"},
		{"not_object.json", "profile must be a JSON object"},
		{"truncated.json", "unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := Profile{UserID: "untouched"}
			err := json.Unmarshal(readFixture(t, tt.file), &p)
			if err == nil {
				t.Fatalf("Unmarshal succeeded: %+v", p)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			var syntax *json.SyntaxError
			if !errors.Is(err, ErrInvalidProfile) && !errors.As(err, &syntax) {
				t.Fatalf("error %v is neither ErrInvalidProfile nor a syntax error", err)
			}
			if p.UserID != "untouched" {
				t.Fatalf("failed Unmarshal modified the profile: %+v", p)
			}
		})
	}
}

func TestProfileMarshalRoundTrip(t *testing.T) {
	in := Profile{UserID: "user-1", Assignments: map[string]Assignment{"1001": {VariationID: "2001"}}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"user_id":"user-1","experiment_bucket_map":{"1001":{"variation_id":"2001"}}}`
	if string(data) != want {
		t.Fatalf("Marshal = %s, want %s", data, want)
	}
	var out Profile
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	empty, _ := json.Marshal(Profile{UserID: "u"})
	if string(empty) != `{"user_id":"u","experiment_bucket_map":{}}` {
		t.Fatalf("empty profile = %s, want an empty experiment_bucket_map", empty)
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "profiles", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestProfileUnmarshalInvalidText: profiles whose IDs decoding would turn
// into U+FFFD must be refused, or "\xff" and "\xfe" load as one user.
func TestProfileUnmarshalInvalidText(t *testing.T) {
	for _, raw := range []string{
		"{\"user_id\": \"\xff\", \"experiment_bucket_map\": {}}",
		"{\"user_id\": \"\xfe\", \"experiment_bucket_map\": {}}",
		`{"user_id": "\udfff", "experiment_bucket_map": {}}`,
		"{\"user_id\": \"u\", \"experiment_bucket_map\": {\"\xc0\": {\"variation_id\": \"1\"}}}",
		`{"user_id": "u", "experiment_bucket_map": {"1": {"variation_id": "\ud800"}}}`,
	} {
		var p Profile
		err := json.Unmarshal([]byte(raw), &p)
		if !errors.Is(err, ErrInvalidProfile) || !errors.Is(err, ErrNotText) {
			t.Errorf("Unmarshal(%q) = %v (profile %+v), want ErrInvalidProfile and ErrNotText", raw, err, p)
		}
	}
}

// TestProfileUnmarshalMessagesAreBounded: values repeated in errors are
// cut, whatever their size.
func TestProfileUnmarshalMessagesAreBounded(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, raw := range []string{
		`{"user_id": "` + long + `"}`,
		`{"user_id": "` + long + `", "experiment_bucket_map": {}}`,
		`{"user_id": "u", "experiment_bucket_map": {"` + long + `": 1}}`,
		`{"user_id": "u", "experiment_bucket_map": {"` + long + `": {}}}`,
		`{"user_id": "u", "experiment_bucket_map": {"` + long + `": {"variation_id": "v"}}}`,
		`{"user_id": "u", "experiment_bucket_map": {"1": {"variation_id": ["` + long + `"]}}}`,
		`{"user_id": ["` + long + `"], "experiment_bucket_map": {}}`,
	} {
		var p Profile
		err := json.Unmarshal([]byte(raw), &p)
		if err == nil {
			t.Errorf("Unmarshal(%.60s…) succeeded", raw)
			continue
		}
		if len(err.Error()) > 400 {
			t.Errorf("Unmarshal(%.60s…): a message of %d bytes: %.200s", raw, len(err.Error()), err)
		}
	}
}

func TestJSONCarriesAssignmentTimes(t *testing.T) {
	decided := time.Date(2026, 11, 1, 8, 0, 0, 123000000, time.UTC)
	expires := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	p := Profile{UserID: "u", Assignments: map[string]Assignment{
		"1": {VariationID: "a", DecidedAt: decided, ExpiresAt: expires},
		"2": {VariationID: "b", DecidedAt: decided},
		"3": {VariationID: "c"},
	}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"a","decided_at":"2026-11-01T08:00:00.123Z","expires_at":"2026-12-31T00:00:00Z"},"2":{"variation_id":"b","decided_at":"2026-11-01T08:00:00.123Z"},"3":{"variation_id":"c"}}}`
	if string(b) != want {
		t.Fatalf("marshal:\n%s\nwant\n%s", b, want)
	}
	for _, form := range []string{want, strings.ReplaceAll(want, `":"`, `": "`)} { // canonical, and not
		var back Profile
		if err := json.Unmarshal([]byte(form), &back); err != nil {
			t.Fatal(err)
		}
		if a := back.Assignments["1"]; !a.DecidedAt.Equal(decided) || !a.ExpiresAt.Equal(expires) {
			t.Errorf("%s: entry 1 = %+v", form, a)
		}
		if a := back.Assignments["3"]; !a.DecidedAt.IsZero() || !a.ExpiresAt.IsZero() {
			t.Errorf("%s: entry 3 = %+v, want no times", form, a)
		}
	}
	var bad Profile
	err = json.Unmarshal([]byte(`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"a","decided_at":"yesterday"}}}`), &bad)
	if !errors.Is(err, ErrInvalidProfile) || !strings.Contains(err.Error(), `["1"].decided_at must be an RFC 3339 time`) {
		t.Fatalf("bad decided_at: %v", err)
	}
}
