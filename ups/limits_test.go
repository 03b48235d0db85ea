package ups

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestProfileValidate(t *testing.T) {
	many := NewProfile("u")
	for i := range MaxAssignments + 1 {
		many.Set(strconv.Itoa(i), "v")
	}
	tests := []struct {
		name    string
		p       Profile
		wantErr string
	}{
		{"ok", Profile{UserID: "u", Assignments: map[string]Assignment{"1": {VariationID: "2"}}}, ""},
		{"no assignments", Profile{UserID: "u"}, ""},
		{"user id at limit", Profile{UserID: strings.Repeat("u", MaxUserIDBytes)}, ""},
		{"empty user id", Profile{}, "user_id is empty"},
		{"oversized user id", Profile{UserID: strings.Repeat("u", MaxUserIDBytes+1)}, "user_id is 513 bytes, the limit is 512"},
		{"invalid utf8 user id", Profile{UserID: "\xff"}, "not valid UTF-8"},
		{"empty experiment id", Profile{UserID: "u", Assignments: map[string]Assignment{"": {VariationID: "2"}}}, "experiment ID is empty"},
		{"oversized experiment id", Profile{UserID: "u", Assignments: map[string]Assignment{strings.Repeat("e", 257): {VariationID: "2"}}}, "experiment ID is 257 bytes"},
		{"empty variation id", Profile{UserID: "u", Assignments: map[string]Assignment{"1": {}}}, `experiment "1": invalid profile: variation_id is empty`},
		{"too many assignments", many, "1001 assignments, the limit is 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidProfile", err)
			}
		})
	}
}
