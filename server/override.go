package server

import (
	"errors"
	"fmt"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// overrideBody is Agent's POST /v1/override request.
type overrideBody struct {
	UserID        string `json:"userId"`
	ExperimentKey string `json:"experimentKey"`
	VariationKey  string `json:"variationKey"`
}

// Agent's words for an override request without a user or an experiment.
var (
	errOverrideUserID     = errors.New("userId cannot be empty")
	errOverrideExperiment = errors.New("experimentKey cannot be empty")
)

// override serves Agent's POST /v1/override: it forces a variation of an
// experiment for a user, or with an empty variationKey removes the forced
// one, and answers what it did in Agent's shape. Off unless the datafile's
// client has overrides (server.overrides.enabled): then 403 "overrides are
// disabled", after the SDK key is checked, as Agent answers. The store of
// overrides is shared by every server on the same store, so an override
// set on one is honoured by all (docs/overrides.md).
func (a *api) override(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !df.Client.OverridesEnabled() {
		writeErrorStatus(w, http.StatusForbidden, decision.ErrOverridesDisabled.Error())
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	data, err := readBody(w, r, buf, a.maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	var body overrideBody
	if len(data) > 0 {
		if err := jsonv2.Unmarshal(data, &body, jsonOptions); err != nil {
			writeError(w, badRequest(fmt.Errorf("%w: %s", errParseBody, describeJSONError(err))))
			return
		}
	}
	switch {
	case body.UserID == "":
		writeError(w, badRequest(errOverrideUserID))
		return
	case body.ExperimentKey == "":
		writeError(w, badRequest(errOverrideExperiment))
		return
	}
	var o decision.Override
	if body.VariationKey == "" {
		o, err = df.Client.RemoveOverride(r.Context(), body.UserID, body.ExperimentKey)
	} else {
		o, err = df.Client.SetOverride(r.Context(), body.UserID, body.ExperimentKey, body.VariationKey)
	}
	if err != nil {
		if errors.Is(err, ups.ErrInvalidProfile) {
			err = badRequest(err)
		}
		writeError(w, err)
		return
	}
	if body.VariationKey != "" && a.log != nil {
		a.log.Info("override set", "user_id", cut(o.UserID, 64), "experiment_key", cut(o.ExperimentKey, 64), "variation_key", cut(o.VariationKey, 64))
	}
	buf.b = appendOverride(buf.b[:0], o)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// appendOverride writes o as Agent does: its fields in this order, and
// messages null when there are none.
func appendOverride(b []byte, o decision.Override) []byte {
	b = append(b, `{"userId":`...)
	b = appendString(b, o.UserID)
	b = append(b, `,"experimentKey":`...)
	b = appendString(b, o.ExperimentKey)
	b = append(b, `,"variationKey":`...)
	b = appendString(b, o.VariationKey)
	b = append(b, `,"prevVariationKey":`...)
	b = appendString(b, o.PrevVariationKey)
	b = append(b, `,"messages":`...)
	if o.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = appendStrings(b, o.Messages)
	}
	return append(b, "}\n"...)
}
