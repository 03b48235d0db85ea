package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// BatchOptions bounds POST /v1/batch, with Agent's defaults and meaning
// (its server.batchRequests).
type BatchOptions struct {
	// MaxConcurrency is how many operations of one batch run at once;
	// default 10.
	MaxConcurrency int
	// OperationsLimit: a batch of more operations is refused with 422;
	// default 500.
	OperationsLimit int
}

// Agent's defaults for BatchOptions.
const (
	DefaultBatchMaxConcurrency  = 10
	DefaultBatchOperationsLimit = 500
)

// batchBody is Agent's batch request.
type batchBody struct {
	Operations []batchOperation `json:"operations"`
}

// batchOperation is one request of a batch, with Agent's field names and
// types: a body that is not an object (or null), an operationID that is
// not a string or a header that is not a string make the whole batch
// malformed, as in Agent.
type batchOperation struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	OperationID string            `json:"operationID"`
	Body        jsontext.Value    `json:"body"`
	Params      map[string]string `json:"params"`
	Headers     map[string]string `json:"headers"`
}

// Agent's messages for a batch it refuses, kept word for word.
const (
	errBatchDecode   = "cannot decode the operation body"
	errBatchTooMany  = "too many operations, exceeding %d operations"
	errBatchCanceled = "problem with making operation requests"
)

// batchKey marks the context of a batch's operations, so an operation that
// is itself a batch is refused instead of recursing.
type batchKey struct{}

// batch serves POST /v1/batch as Agent does: each operation is a request
// to this API (the same routes, checks and metrics), run at most
// MaxConcurrency at a time, and the answers come back in one response.
//
// The outer request passed the token check: an operation that carries no
// Authorization header of its own gets the outer one, and is checked again
// by its route like any request. Nothing else of the outer request is
// passed on (as in Agent: an operation names its own SDK key and
// Content-Type). The outer request's context is every operation's, so a
// client that goes away stops the batch.
func (a *api) batch(w http.ResponseWriter, r *http.Request) {
	if r.Context().Value(batchKey{}) != nil {
		writeErrorStatus(w, http.StatusNotFound, "/v1/batch cannot be an operation of a batch: put its operations in the outer batch")
		return
	}
	// Agent reads a batch whatever its declared type; compressed bodies
	// are refused as on every route.
	if err := checkEncoding(r); err != nil {
		writeError(w, err)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	data, err := readLimited(w, r, buf, a.maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	ops, err := parseBatch(data)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(ops) > a.batchOpts.OperationsLimit {
		writeErrorStatus(w, http.StatusUnprocessableEntity, fmt.Sprintf(errBatchTooMany, a.batchOpts.OperationsLimit))
		return
	}
	run := batchRun{
		api:     a,
		handler: canonicalPaths(a.mux),
		ctx:     context.WithValue(r.Context(), batchKey{}, true),
		auth:    r.Header.Get("Authorization"),
		ops:     ops,
		items:   make([]batchItem, len(ops)),
		budget:  a.maxResponse,
	}
	started := time.Now()
	run.runAll(a.batchOpts.MaxConcurrency)
	if r.Context().Err() != nil {
		writeErrorStatus(w, http.StatusBadRequest, errBatchCanceled)
		return
	}
	// The request's buffer holds the answer, written in chunks; each
	// operation's answer is let go once written.
	out := stream{w: w, b: buf.b[:0]}
	run.writeResponse(&out, started, time.Now())
	buf.b = out.b
}

// parseBatch decodes a batch request, answering Agent's 400 for anything
// Agent cannot decode, with what was wrong.
func parseBatch(data []byte) ([]batchOperation, error) {
	if len(data) == 0 {
		return nil, badRequest(errors.New(errBatchDecode + ": the body is empty"))
	}
	var body batchBody
	if err := jsonv2.Unmarshal(data, &body, jsonOptions); err != nil {
		return nil, badRequest(fmt.Errorf("%s: %s", errBatchDecode, describeBatchError(err)))
	}
	for i, op := range body.Operations {
		if len(op.Body) > 0 {
			if k := op.Body.Kind(); k != '{' && k != 'n' {
				return nil, badRequest(fmt.Errorf("%s: operations[%d].body must be an object, not %s", errBatchDecode, i, kindName(k)))
			}
		}
	}
	return body.Operations, nil
}

// describeBatchError says where in the batch a value has the wrong type
// ("operations[2].headers.X" must be a string), and otherwise what
// describeJSONError says.
func describeBatchError(err error) string {
	var semErr *jsonv2.SemanticError
	if !errors.As(err, &semErr) || semErr.JSONPointer == "" || semErr.GoType == nil {
		return describeJSONError(err)
	}
	var where []byte
	for i, tok := range strings.Split(strings.TrimPrefix(string(semErr.JSONPointer), "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(tok); err == nil && i > 0 {
			where = append(append(append(where, '['), tok...), ']')
			continue
		}
		if i > 0 {
			where = append(where, '.')
		}
		where = append(where, tok...)
	}
	return fmt.Sprintf("%s must be %s, not %s", cut(string(where), 96), jsonKind(semErr.GoType.Kind().String()), kindName(semErr.JSONKind))
}

// batchRun is one batch in progress.
type batchRun struct {
	api     *api
	handler http.Handler
	ctx     context.Context
	auth    string
	ops     []batchOperation
	items   []batchItem
	// next is the index of the next operation to start.
	next atomic.Int64
	// spent counts the bytes of the operations' answers held; budget
	// bounds them (the decide answer bound, for the batch as a whole).
	spent  atomic.Int64
	budget int64
}

// batchItem is the answer to one operation.
type batchItem struct {
	status    int
	requestID string
	// body is the operation's JSON answer; nil writes null.
	body           []byte
	started, ended time.Time
}

// runAll runs the operations on at most workers goroutines, in order of
// index, and returns when each has run or the context ended (operations
// not started then are left out).
func (b *batchRun) runAll(workers int) {
	workers = min(workers, len(b.ops))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b.ctx.Err() == nil {
				i := int(b.next.Add(1) - 1)
				if i >= len(b.ops) {
					return
				}
				b.run(i)
			}
		})
	}
	wg.Wait()
}

// run runs operation i through the API handler and keeps its answer. A
// panic in a handler fails the operation, not the process (net/http
// recovers only the goroutines it starts).
func (b *batchRun) run(i int) {
	op := &b.ops[i]
	it := &b.items[i]
	it.started = time.Now()
	defer func() {
		if p := recover(); p != nil {
			b.api.log.Error("batch operation panicked", "operation", i, "url", cut(op.URL, 128), "panic", fmt.Sprint(p))
			it.status, it.body = http.StatusInternalServerError, errorJSON("internal error in operation "+strconv.Itoa(i))
		}
		it.ended = time.Now()
	}()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	req, err := b.request(ctx, op)
	if err != nil {
		it.status, it.body = http.StatusBadRequest, errorJSON(fmt.Sprintf("operation %d: %v", i, err))
		return
	}
	it.requestID = req.Header.Get("X-Request-Id")
	if it.requestID == "" {
		it.requestID = newRequestID()
	}
	c := capture{header: http.Header{}, status: http.StatusOK, run: b, cancel: cancel}
	b.handler.ServeHTTP(&c, req)
	it.status, it.body = c.status, c.json()
	if c.overflow {
		it.status = http.StatusRequestEntityTooLarge
		it.body = errorJSON(fmt.Sprintf("operation %d: the answers of the batch exceed the limit of %d bytes: send fewer operations per batch", i, b.budget))
	}
}

// request builds operation op's request as Agent does: the method and URL
// as given, params added to the query, the body (null when absent) and
// the operation's headers; only the outer Authorization is added when the
// operation sets none.
func (b *batchRun) request(ctx context.Context, op *batchOperation) (*http.Request, error) {
	body := []byte(op.Body)
	if len(body) == 0 {
		body = []byte("null")
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, op.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("method %q and url %q make no request: %w", cut(op.Method, 32), cut(op.URL, 128), unwrapURLError(err))
	}
	if len(op.Params) > 0 {
		q := req.URL.Query()
		for k, v := range op.Params {
			q.Add(k, v)
		}
		req.URL.RawQuery = q.Encode()
	}
	for k, v := range op.Headers {
		req.Header.Add(k, v)
	}
	if b.auth != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", b.auth)
	}
	req.RequestURI = req.URL.RequestURI()
	return req, nil
}

// unwrapURLError drops url.Error's repetition of the URL, which the
// message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// capture is the ResponseWriter of one operation: it keeps the status and
// the body, within what is left of the batch's budget.
type capture struct {
	header   http.Header
	status   int
	wrote    bool
	body     []byte
	overflow bool
	run      *batchRun
	cancel   context.CancelFunc
}

var errBatchFull = errors.New("the batch's answers are over their limit")

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(code int) {
	if !c.wrote {
		c.status, c.wrote = code, true
	}
}

func (c *capture) Write(p []byte) (int, error) {
	c.wrote = true
	if c.overflow {
		return 0, errBatchFull
	}
	if c.run.spent.Add(int64(len(p))) > c.run.budget {
		// Give back what this operation held and stop it: its answer is
		// replaced by a 413.
		c.run.spent.Add(-int64(len(c.body) + len(p)))
		c.body, c.overflow = nil, true
		c.cancel()
		return 0, errBatchFull
	}
	c.body = append(c.body, p...)
	return len(p), nil
}

// json returns the answer as a JSON value, or nil (null) when it is empty
// or not JSON, as Agent does.
func (c *capture) json() []byte {
	b := bytes.TrimSpace(c.body)
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

// errorJSON is {"error": msg}.
func errorJSON(msg string) []byte {
	return append(appendString([]byte(`{"error":`), msg), '}')
}

// newRequestID returns a random (version 4) UUID, as Agent gives an
// operation that sends no X-Request-Id.
func newRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0xf]
		j += 2
	}
	return string(s[:])
}

// writeResponse writes Agent's batch answer: the operations' answers in
// the order of the operations, errorCount counting those not 2xx.
func (b *batchRun) writeResponse(out *stream, started, ended time.Time) {
	errorCount := 0
	for i := range b.items {
		if s := b.items[i].status; s < 200 || s > 299 {
			errorCount++
		}
	}
	out.b = append(out.b, `{"startedAt":`...)
	out.b = appendTime(out.b, started)
	out.b = append(out.b, `,"endedAt":`...)
	out.b = appendTime(out.b, ended)
	out.b = append(out.b, `,"errorCount":`...)
	out.b = strconv.AppendInt(out.b, int64(errorCount), 10)
	out.b = append(out.b, `,"response":[`...)
	for i := range b.items {
		it, op := &b.items[i], &b.ops[i]
		if i > 0 {
			out.b = append(out.b, ',')
		}
		out.b = append(out.b, `{"status":`...)
		out.b = strconv.AppendInt(out.b, int64(it.status), 10)
		out.b = append(out.b, `,"requestID":`...)
		out.b = appendString(out.b, it.requestID)
		out.b = append(out.b, `,"operationID":`...)
		out.b = appendString(out.b, op.OperationID)
		out.b = append(out.b, `,"method":`...)
		out.b = appendString(out.b, op.Method)
		out.b = append(out.b, `,"url":`...)
		out.b = appendString(out.b, op.URL)
		out.b = append(out.b, `,"body":`...)
		switch {
		case it.body == nil:
			out.b = append(out.b, "null"...)
		case len(it.body) > streamChunk:
			out.writeRaw(it.body) // rather than copied
		default:
			out.b = append(out.b, it.body...)
		}
		it.body = nil
		out.b = append(out.b, `,"startedAt":`...)
		out.b = appendTime(out.b, it.started)
		out.b = append(out.b, `,"endedAt":`...)
		out.b = appendTime(out.b, it.ended)
		out.b = append(out.b, '}')
		out.flushOver(streamChunk)
	}
	out.b = append(out.b, "]}\n"...)
	out.flushOver(0)
}

// writeRaw writes p at once, after what is built (flushed first).
func (s *stream) writeRaw(p []byte) {
	s.flushOver(0)
	if !s.started {
		s.w.Header()["Content-Type"] = jsonContentType
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	_, _ = s.w.Write(p)
}
