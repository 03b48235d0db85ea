package server

import (
	"errors"
	"net/http"
	"time"
)

// errNotificationsDisabled is Agent's answer, word for word, with
// api.enableNotifications false (its default).
const errNotificationsDisabled = "Notification stream not enabled"

// notificationWriteTimeout bounds each write of a stream: a subscriber
// that takes nothing for that long is cut off. The server's own write
// timeout, set for the whole request, is lifted for a stream.
const notificationWriteTimeout = 10 * time.Second

// notificationStream serves Agent's GET /v1/notifications/event-stream:
// server-sent events, one per notification of the request's SDK key
// (data: <the SDK's notification as JSON>, then a blank line), or with
// ?raw one JSON document per line; filter=decision,track (repeatable)
// chooses the types, as Agent's. The SDK key is checked first, then
// whether notifications are on (403 in Agent's words when off), then the
// cap on streams (503). The stream ends when the client leaves or the
// service shuts down. It cannot be an operation of a batch: it does not
// end.
func (a *api) notificationStream(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	n := a.opts.Notifications
	if n == nil {
		writeErrorStatus(w, http.StatusForbidden, errNotificationsDisabled)
		return
	}
	if r.Context().Value(batchKey{}) != nil {
		writeErrorStatus(w, http.StatusBadRequest, "/v1/notifications/event-stream cannot be an operation of a batch: a stream does not end; open it on its own")
		return
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		return
	}
	q := r.URL.Query()
	raw := len(q["raw"]) > 0
	sub, err := n.subscribe(df.SDKKey, parseFilter(q["filter"]))
	if err != nil {
		writeErrorStatus(w, http.StatusServiceUnavailable, "notification stream: "+err.Error())
		return
	}
	defer n.unsubscribe(sub)

	rc := http.NewResponseController(w)
	// The server's timeouts bound a request; a stream is meant to last.
	// Without lifting the read deadline, the server's background read
	// would end the request's context when it passes.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(notificationWriteTimeout))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	// Agent sends its headers with its first message; sending them at once
	// lets a client know it is subscribed.
	if err := rc.Flush(); err != nil {
		if !errors.Is(err, http.ErrNotSupported) {
			return
		}
	}
	var frame []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case <-n.done:
			return
		case msg := <-sub.ch:
			frame = frame[:0]
			if raw {
				frame = append(append(frame, msg...), '\n')
			} else {
				frame = append(append(append(frame, "data: "...), msg...), '\n', '\n')
			}
			_ = rc.SetWriteDeadline(time.Now().Add(notificationWriteTimeout))
			if _, err := w.Write(frame); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
