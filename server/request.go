package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/stickybucket/stickybucket/internal/clip"
)

const sdkKeyHeader = "X-Optimizely-SDK-Key"

// defaultMaxBody bounds request bodies when Options.MaxBodyBytes is zero.
// A decide request is a user ID and some attributes; a save carries at
// most ups.MaxAssignments entries.
const defaultMaxBody = 1 << 20

// defaultMaxResponse bounds a decide answer when Options.MaxResponseBytes
// is zero: 16 decisions for a full 1 MiB of attributes, every flag of a
// big project for a usual user.
const defaultMaxResponse = 16 << 20

// checkJSON answers 415 for a POST whose body is compressed or not
// declared as JSON, as Agent does; an empty body needs no type.
func checkJSON(r *http.Request) error {
	if err := checkEncoding(r); err != nil {
		return err
	}
	if r.ContentLength == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.EqualFold(mt, "application/json") {
		return &httpError{http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type must be application/json, got %q", cut(ct, 64))}
	}
	return nil
}

// checkEncoding answers 415 for a compressed body.
func checkEncoding(r *http.Request) error {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return &httpError{http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not supported: send the body uncompressed", cut(ce, 32))}
	}
	return nil
}

// readBody reads at most limit bytes of r's body into buf, answering 413
// beyond that, and rejects bodies that are not valid UTF-8: decoding would
// silently turn such user IDs into U+FFFD and merge different users.
func readBody(w http.ResponseWriter, r *http.Request, buf *buffer, limit int64) ([]byte, error) {
	if err := checkJSON(r); err != nil {
		return nil, err
	}
	return readLimited(w, r, buf, limit)
}

// readLimited is readBody without the check of the body's type.
func readLimited(w http.ResponseWriter, r *http.Request, buf *buffer, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body is %d bytes, the limit is %d", r.ContentLength, limit)}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	b := buf.b[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			buf.b = b
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds the limit of %d bytes", limit)}
			}
			return nil, badRequest(fmt.Errorf("error reading request body: %w", err))
		}
	}
	buf.b = b
	if !utf8.Valid(b) {
		return nil, badRequest(errors.New("request body is not valid UTF-8"))
	}
	return b, nil
}

// cut shortens s for a message.
func cut(s string, n int) string { return clip.To(s, n) }
