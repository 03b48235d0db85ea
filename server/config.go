package server

import (
	"net/http"

	"github.com/stickybucket/stickybucket/decision"
)

// config serves GET /v1/config: the datafile as the SDKs'
// OptimizelyConfig (decision.NewOptimizelyConfig), built once per
// datafile by the catalog.
func (a *api) config(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var b []byte
	if df.Config != nil {
		b, err = df.Config()
	} else {
		b, err = decision.OptimizelyConfigJSON(df.Raw, df.SDKKey)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSONBytes(w, http.StatusOK, b)
}
