package ups

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The JSON form is Optimizely's user profile schema, so profiles can move
// between stickybucket and any Optimizely SDK or Agent:
//
//	{"user_id": "u1", "experiment_bucket_map": {"<experiment id>": {"variation_id": "<variation id>"}}}
//
// An entry may also carry "decided_at" and "expires_at" (RFC 3339, UTC),
// when the assignment has them: not part of Optimizely's schema, whose
// readers ignore unknown keys, but what an export needs so an import keeps
// each assignment's decision time and remaining retention.

const (
	jsonUserID      = "user_id"
	jsonBucketMap   = "experiment_bucket_map"
	jsonVariationID = "variation_id"
	jsonDecidedAt   = "decided_at"
	jsonExpiresAt   = "expires_at"
)

// jsonTime formats an assignment's times in JSON.
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// MarshalJSON writes the Optimizely schema, with each entry's decided_at
// and expires_at when set. experiment_bucket_map is always present, even
// when empty, because readers require it.
func (p Profile) MarshalJSON() ([]byte, error) {
	type entry struct {
		VariationID string `json:"variation_id"`
		DecidedAt   string `json:"decided_at,omitempty"`
		ExpiresAt   string `json:"expires_at,omitempty"`
	}
	m := make(map[string]entry, len(p.Assignments))
	for expID, a := range p.Assignments {
		m[expID] = entry{VariationID: a.VariationID, DecidedAt: jsonTime(a.DecidedAt), ExpiresAt: jsonTime(a.ExpiresAt)}
	}
	return json.Marshal(struct {
		UserID    string           `json:"user_id"`
		BucketMap map[string]entry `json:"experiment_bucket_map"`
	}{p.UserID, m})
}

// UnmarshalJSON reads the Optimizely schema strictly: both keys are
// required, every entry must be an object with a string variation_id, and
// the result must pass Validate. Every string must be valid text (see
// ValidateJSONText): decoding would otherwise turn distinct invalid IDs
// into one. Errors name the offending field and repeat at most a short
// prefix of any value.
func (p *Profile) UnmarshalJSON(data []byte) error {
	out, ok := decodeCanonical(data)
	if !ok {
		var err error
		if out, err = decodeFull(data); err != nil {
			return err
		}
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*p = out
	return nil
}

// decodeFull decodes any JSON form of the schema, checking every field.
func decodeFull(data []byte) (Profile, error) {
	if err := ValidateJSONText(data); err != nil {
		return Profile{}, fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Profile{}, fmt.Errorf("%w: profile must be a JSON object: %v", ErrInvalidProfile, err)
	}
	if top == nil {
		return Profile{}, fmt.Errorf("%w: profile must be a JSON object, got null", ErrInvalidProfile)
	}
	rawID, ok := top[jsonUserID]
	if !ok {
		return Profile{}, fmt.Errorf("%w: missing required field %q", ErrInvalidProfile, jsonUserID)
	}
	var userID string
	if err := decodeString(rawID, &userID); err != nil {
		return Profile{}, fmt.Errorf("%w: field %q: %v", ErrInvalidProfile, jsonUserID, err)
	}
	// The ID is checked before later messages repeat it.
	if err := ValidateUserID(userID); err != nil {
		return Profile{}, err
	}
	rawMap, ok := top[jsonBucketMap]
	if !ok {
		return Profile{}, fmt.Errorf("%w: user %q: missing required field %q", ErrInvalidProfile, clip(userID), jsonBucketMap)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(rawMap, &entries); err != nil || isNull(rawMap) {
		return Profile{}, fmt.Errorf("%w: user %q: field %q must be an object", ErrInvalidProfile, clip(userID), jsonBucketMap)
	}
	// So are experiment IDs.
	for expID := range entries {
		if err := validateID("experiment ID", expID, MaxExperimentIDBytes); err != nil {
			return Profile{}, fmt.Errorf("user %q: %s[%q]: %w", clip(userID), jsonBucketMap, clip(expID), err)
		}
	}
	out := Profile{UserID: userID, Assignments: make(map[string]Assignment, len(entries))}
	for expID, raw := range entries {
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entry); err != nil || entry == nil {
			return Profile{}, fmt.Errorf("%w: user %q: %s[%q] must be an object", ErrInvalidProfile, clip(userID), jsonBucketMap, clip(expID))
		}
		rawVar, ok := entry[jsonVariationID]
		if !ok {
			return Profile{}, fmt.Errorf("%w: user %q: %s[%q]: missing required field %q", ErrInvalidProfile, clip(userID), jsonBucketMap, clip(expID), jsonVariationID)
		}
		var varID string
		if err := decodeString(rawVar, &varID); err != nil {
			return Profile{}, fmt.Errorf("%w: user %q: %s[%q].%s: %v", ErrInvalidProfile, clip(userID), jsonBucketMap, clip(expID), jsonVariationID, err)
		}
		a := Assignment{VariationID: varID}
		for _, f := range []struct {
			name string
			dst  *time.Time
		}{{jsonDecidedAt, &a.DecidedAt}, {jsonExpiresAt, &a.ExpiresAt}} {
			raw, ok := entry[f.name]
			if !ok || isNull(raw) {
				continue
			}
			var text string
			err := decodeString(raw, &text)
			if err == nil {
				*f.dst, err = time.Parse(time.RFC3339Nano, text)
			}
			if err != nil {
				return Profile{}, fmt.Errorf("%w: user %q: %s[%q].%s must be an RFC 3339 time: %v", ErrInvalidProfile, clip(userID), jsonBucketMap, clip(expID), f.name, err)
			}
		}
		out.Assignments[expID] = a
	}
	return out, nil
}

func decodeString(raw json.RawMessage, dst *string) error {
	if isNull(raw) {
		return fmt.Errorf("must be a string, got null")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("must be a string, got %s", clip(string(bytes.TrimSpace(raw))))
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}
