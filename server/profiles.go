package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// storeFailed turns a store error into the answer: bad input is 400, a
// store that cannot answer is 503 (retry later), anything else 500.
func storeFailed(err error) error {
	switch {
	case errors.Is(err, ups.ErrInvalidProfile):
		return badRequest(err)
	case ups.Unavailable(err), errors.Is(err, ups.ErrClosed):
		return &httpError{http.StatusServiceUnavailable, err}
	}
	return &httpError{http.StatusInternalServerError, err}
}

// lookupBody and saveBody are Agent's lookup and save requests.
type lookupBody struct {
	UserID string `json:"userId"`
}

type saveBody struct {
	UserID              string                     `json:"userId"`
	ExperimentBucketMap map[string]json.RawMessage `json:"experimentBucketMap"`
}

func (b *lookupBody) user() string { return b.UserID }
func (b *saveBody) user() string   { return b.UserID }

// lookup serves Agent's POST /v1/lookup {"userId"}: the profile in
// Optimizely's schema, {"userId", "experimentBucketMap": {id: {"variation_id"}}}.
func (a *api) lookup(w http.ResponseWriter, r *http.Request) {
	buf := getBuffer()
	defer putBuffer(buf)
	var body lookupBody
	if err := a.readUserBody(w, r, buf, &body); err != nil {
		writeError(w, err)
		return
	}
	p, err := a.opts.Profiles.Lookup(r.Context(), body.UserID)
	if err != nil {
		writeError(w, storeFailed(err))
		return
	}
	buf.b = appendProfile(buf.b[:0], p, false)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// save serves Agent's POST /v1/save with the shape /v1/lookup answers:
// every entry is validated before anything is written. As in Agent, whose
// profile services store the profile whole, the profile saved replaces
// the user's: an assignment it does not hold is removed (a body without
// experimentBucketMap empties the profile). It is done as a delete then
// a save, so a lookup of that user in between finds no assignments.
func (a *api) save(w http.ResponseWriter, r *http.Request) {
	buf := getBuffer()
	defer putBuffer(buf)
	var body saveBody
	if err := a.readUserBody(w, r, buf, &body); err != nil {
		writeError(w, err)
		return
	}
	p := ups.NewProfile(body.UserID)
	for expID, raw := range body.ExperimentBucketMap {
		var entry struct {
			VariationID *string `json:"variation_id"`
		}
		if err := json.Unmarshal(raw, &entry); err != nil || entry.VariationID == nil {
			writeError(w, badRequest(fmt.Errorf(`experimentBucketMap[%q] must be {"variation_id": "<variation id>"}`, cut(expID, 64))))
			return
		}
		p.Set(expID, *entry.VariationID)
	}
	if err := p.Validate(); err != nil {
		writeError(w, badRequest(err))
		return
	}
	d, ok := ups.As[ups.Deleter](a.opts.Profiles)
	if !ok {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "the profile store cannot delete users, so /v1/save cannot replace a profile")
		return
	}
	if err := d.Delete(r.Context(), p.UserID); err != nil {
		writeError(w, storeFailed(err))
		return
	}
	if !p.Empty() {
		if err := a.opts.Profiles.Save(r.Context(), p); err != nil {
			writeError(w, storeFailed(err))
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// getProfile serves GET /v1/profiles/{userId}: the profile with each
// assignment's decidedAt and expiresAt (RFC 3339; null when it never
// expires).
func (a *api) getProfile(w http.ResponseWriter, r *http.Request) {
	userID := r.PathValue("userId")
	if err := ups.ValidateUserID(userID); err != nil {
		writeError(w, badRequest(err))
		return
	}
	p, err := a.opts.Profiles.Lookup(r.Context(), userID)
	if err != nil {
		writeError(w, storeFailed(err))
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	buf.b = appendProfile(buf.b[:0], p, true)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// deleteProfile serves DELETE /v1/profiles/{userId}: 204 whether or not
// the user had assignments.
func (a *api) deleteProfile(w http.ResponseWriter, r *http.Request) {
	userID := r.PathValue("userId")
	if err := ups.ValidateUserID(userID); err != nil {
		writeError(w, badRequest(err))
		return
	}
	d, ok := ups.As[ups.Deleter](a.opts.Profiles)
	if !ok {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "the profile store cannot delete users")
		return
	}
	if err := d.Delete(r.Context(), userID); err != nil {
		writeError(w, storeFailed(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// appendProfile writes {"userId", "experimentBucketMap"} with entries in
// experiment ID order, and with times when asked.
func appendProfile(b []byte, p ups.Profile, times bool) []byte {
	b = append(b, `{"userId":`...)
	b = appendString(b, p.UserID)
	b = append(b, `,"experimentBucketMap":{`...)
	for i, expID := range slices.Sorted(maps.Keys(p.Assignments)) {
		a := p.Assignments[expID]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, expID)
		b = append(b, `:{"variation_id":`...)
		b = appendString(b, a.VariationID)
		if times {
			b = append(b, `,"decidedAt":`...)
			b = appendTime(b, a.DecidedAt)
			b = append(b, `,"expiresAt":`...)
			b = appendTime(b, a.ExpiresAt)
		}
		b = append(b, '}')
	}
	return append(b, "}}\n"...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// datafile serves GET /v1/datafile: the datafile in force, as loaded.
func (a *api) datafile(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, df.Raw)
}
