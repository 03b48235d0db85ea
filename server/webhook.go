package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// WebhookPath is where Optimizely's datafile webhooks are received, on the
// webhook listener (Agent's route on its webhook port).
const WebhookPath = "/webhooks/optimizely"

// webhookSignatureHeader carries "sha1=" and the hex HMAC-SHA1 of the
// body under the project's webhook secret.
const webhookSignatureHeader = "X-Hub-Signature"

// Defaults of WebhookOptions' zero values.
const (
	defaultWebhookMaxBody = 64 << 10
	defaultWebhookTimeout = 5 * time.Second
)

// webhookInFlight bounds the webhooks fetching at once: Optimizely sends
// one per publication, so more at once is a storm (or, with
// skip_signature_check, anyone), and each would fetch every datafile of
// its project again.
const webhookInFlight = 4

// WebhookProject is one Optimizely project's webhook: the SDK keys of
// its datafiles served here and the secret its webhooks are signed with.
type WebhookProject struct {
	SDKKeys []string
	Secret  string
	// SkipSignatureCheck accepts webhooks without a valid signature.
	SkipSignatureCheck bool
}

// WebhookOptions configures NewWebhook.
type WebhookOptions struct {
	// Projects are the projects whose webhooks are acted on, by project
	// ID. Required.
	Projects map[int64]WebhookProject
	// Refresh fetches an SDK key's datafile now and returns once it is in
	// force or failed (datafiles.Set.Refresh). Required.
	Refresh func(ctx context.Context, sdkKey string) error
	// MaxBodyBytes bounds a webhook's body (413 beyond); default 64 KiB.
	MaxBodyBytes int64
	// Timeout bounds the refreshes one webhook triggers; default 5s,
	// within the listener's write timeout.
	Timeout time.Duration
	// Metrics counts the webhook's requests (route "webhook"); nil counts
	// nothing.
	Metrics *Metrics
	// Log receives a line per webhook acted on or refused; nil means
	// slog.Default().
	Log *slog.Logger
}

type webhook struct {
	opts     WebhookOptions
	log      *slog.Logger
	inFlight chan struct{} // capacity webhookInFlight
}

// webhookMessage is what Optimizely posts when a datafile changes.
type webhookMessage struct {
	ProjectID int64  `json:"project_id"`
	Timestamp int64  `json:"timestamp"`
	Event     string `json:"event"`
	Data      struct {
		Revision    int64  `json:"revision"`
		OriginURL   string `json:"origin_url"`
		CDNURL      string `json:"cdn_url"`
		Environment string `json:"environment"`
	} `json:"data"`
}

// NewWebhook returns the handler of the webhook listener: POST
// /webhooks/optimizely with Optimizely's datafile-updated message. It
// answers as Agent does: 204 once the project's datafiles were fetched
// (a failed fetch is logged and counted by Refresh's owner, and the
// answer is still 204), 204 without acting for a project not configured,
// 400 for a body that is not the message or a signature that does not
// match (or is missing), 415 for a body not declared JSON; beyond Agent,
// 413 for a body over MaxBodyBytes, 503 while 4 webhooks are fetching
// already, and JSON errors for other routes and methods.
func NewWebhook(opts WebhookOptions) (http.Handler, error) {
	if len(opts.Projects) == 0 || opts.Refresh == nil {
		return nil, errors.New("server: new webhook: Projects and Refresh are required")
	}
	for id, p := range opts.Projects {
		if p.Secret == "" && !p.SkipSignatureCheck {
			return nil, fmt.Errorf("server: new webhook: project %d has no secret and does not skip the signature check", id)
		}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultWebhookMaxBody
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultWebhookTimeout
	}
	h := &webhook{opts: opts, log: opts.Log, inFlight: make(chan struct{}, webhookInFlight)}
	if h.log == nil {
		h.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, opts.Metrics.instrument("webhook", http.HandlerFunc(h.serve)))
	mux.Handle(WebhookPath, opts.Metrics.instrument("method_not_allowed", methodNotAllowed("POST")))
	mux.Handle("/", opts.Metrics.instrument("not_found", http.HandlerFunc(notFound)))
	return mux, nil
}

func (h *webhook) serve(w http.ResponseWriter, r *http.Request) {
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readBody(w, r, buf, h.opts.MaxBodyBytes)
	if err != nil {
		h.log.Warn("webhook refused", "error", err)
		writeError(w, err)
		return
	}
	var msg webhookMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		h.log.Warn("webhook refused: not Optimizely's message", "error", err)
		writeErrorStatus(w, http.StatusBadRequest, "unable to parse webhook message: "+err.Error())
		return
	}
	project, ok := h.opts.Projects[msg.ProjectID]
	if !ok {
		// Agent answers 204 too: the sender did nothing wrong, this
		// service just serves none of that project's datafiles.
		h.log.Warn("webhook for a project not configured; ignored", "project_id", msg.ProjectID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !project.SkipSignatureCheck && !validSignature(r.Header.Get(webhookSignatureHeader), body, project.Secret) {
		h.log.Warn("webhook refused: signature does not match", "project_id", msg.ProjectID)
		writeErrorStatus(w, http.StatusBadRequest, "the "+webhookSignatureHeader+" signature does not match the body under project "+strconv.FormatInt(msg.ProjectID, 10)+"'s webhook secret; message ignored")
		return
	}
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		h.log.Warn("webhook refused: too many in flight", "project_id", msg.ProjectID, "in_flight", webhookInFlight)
		w.Header().Set("Retry-After", "1")
		writeErrorStatus(w, http.StatusServiceUnavailable, strconv.Itoa(webhookInFlight)+" webhooks are fetching datafiles already; try again")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	failed := 0
	for _, key := range project.SDKKeys {
		if err := h.opts.Refresh(ctx, key); err != nil {
			failed++ // the datafile in force keeps serving; Refresh's owner logged and counted it
			h.log.Warn("webhook: datafile refresh failed", "project_id", msg.ProjectID, "sdk_key", key, "error", err)
		}
	}
	h.log.Info("webhook: datafiles refreshed", "project_id", msg.ProjectID, "environment", msg.Data.Environment,
		"revision", msg.Data.Revision, "sdk_keys", len(project.SDKKeys), "failed", failed)
	w.WriteHeader(http.StatusNoContent)
}

// validSignature reports whether header is "sha1=" and the hex HMAC-SHA1
// of body under secret, compared in constant time.
func validSignature(header string, body []byte, secret string) bool {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	want := make([]byte, 0, 5+2*sha1.Size)
	want = append(want, "sha1="...)
	want = hex.AppendEncode(want, mac.Sum(nil))
	return hmac.Equal(want, []byte(header))
}
