package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stickybucket/stickybucket/decision"
)

// request is one line of a requests file.
type request struct {
	UserID     string
	Attributes map[string]any
	IsFlag     bool // the request names a flag, else an experiment
	Experiment string
	Flag       string
	Options    []decision.Option
}

type rawRequest struct {
	UserID     *string         `json:"user_id"`
	Attributes json.RawMessage `json:"attributes"`
	Experiment *string         `json:"experiment"`
	Flag       *string         `json:"flag"`
	Options    []string        `json:"options"`
}

// parseRequest validates one request line. Numbers in attributes decode
// as float64, as the SDKs see JSON numbers.
func parseRequest(line []byte) (request, error) {
	var raw rawRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&raw); err != nil {
		return request{}, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return request{}, errors.New("invalid JSON: more than one value on the line")
	}
	var r request
	switch {
	case raw.UserID == nil:
		return request{}, errors.New(`missing "user_id"`)
	case *raw.UserID == "":
		return request{}, errors.New(`"user_id" is empty`)
	}
	r.UserID = *raw.UserID
	switch {
	case raw.Experiment == nil && raw.Flag == nil:
		return request{}, errors.New(`one of "experiment" or "flag" is required`)
	case raw.Experiment != nil && raw.Flag != nil:
		return request{}, errors.New(`give "experiment" or "flag", not both`)
	case raw.Experiment != nil:
		r.Experiment = *raw.Experiment
	default:
		r.IsFlag, r.Flag = true, *raw.Flag
	}
	if len(raw.Attributes) > 0 && !bytes.Equal(bytes.TrimSpace(raw.Attributes), []byte("null")) {
		if err := json.Unmarshal(raw.Attributes, &r.Attributes); err != nil || r.Attributes == nil {
			return request{}, errors.New(`"attributes" must be an object`)
		}
	}
	for _, s := range raw.Options {
		o, err := decision.ParseOption(s)
		if err != nil {
			return request{}, err
		}
		r.Options = append(r.Options, o)
	}
	return r, nil
}
