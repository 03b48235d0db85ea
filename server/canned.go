package server

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// net/http answers some requests itself, before any handler runs, with a
// plain-text body on the raw connection: a malformed request line or URI
// (a bad % escape), headers over the limit (431), an unsupported HTTP
// version, a missing Host, plain HTTP sent to the TLS port. It writes each
// as one Write of a fixed shape and closes the connection. jsonConn turns
// those answers into JSON, the status unchanged, so every answer of the
// service is JSON whatever answers it; handler responses, which are JSON
// already, pass through untouched.

// cannedHeaders is what net/http puts between the status line and the
// body of those answers.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonListener wraps every accepted connection in a jsonConn.
type jsonListener struct{ net.Listener }

func (l jsonListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonConn{Conn: c}, nil
}

// jsonConn rewrites net/http's canned plain-text answers into JSON.
type jsonConn struct{ net.Conn }

func (c *jsonConn) Write(p []byte) (int, error) {
	if out, ok := cannedToJSON(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cannedToJSON returns the JSON form of one of net/http's canned answers,
// and false for anything else.
func cannedToJSON(p []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok {
		return nil, false
	}
	statusLine, body, ok := bytes.Cut(rest, []byte(cannedHeaders))
	if !ok || bytes.ContainsAny(statusLine, "\r\n") {
		return nil, false
	}
	codeText, _, _ := strings.Cut(string(statusLine), " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	b := []byte(`{"error":`)
	b = appendString(b, msg)
	b = append(b, "}\n"...)
	out := make([]byte, 0, len(statusLine)+128+len(b))
	out = append(out, "HTTP/1.1 "...)
	out = append(out, statusLine...)
	out = append(out, "\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(b)), 10)
	out = append(out, "\r\n\r\n"...)
	return append(out, b...), true
}

// canonicalPaths answers a request whose path is not canonical (// . ..)
// with a JSON 404 instead of ServeMux's redirect with an HTML body: the
// API has no route such a path could mean.
func canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || p[0] != '/' || strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
			strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
			writeErrorStatus(w, http.StatusNotFound, "no such route: "+cut(p, 128)+" (paths are written without //, . or ..)")
			return
		}
		next.ServeHTTP(w, r)
	})
}
