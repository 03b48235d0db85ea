package server

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the API's OpenAPI document: Agent's routes with Agent's
// field names, and the routes beyond Agent. openapi_test.go holds its
// paths and methods equal to the routes NewAPI registers.
//
//go:embed openapi.yaml
var openAPISpec []byte

// openAPI serves the document, without a token, as Agent serves its own.
func openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPISpec)
}
