package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// OAuthClient is a client allowed to ask for tokens with its secret (as
// Agent's api.auth.clients and admin.auth.clients).
type OAuthClient struct {
	ID string
	// SecretHash is the bcrypt hash of the secret's bytes; the client
	// sends the secret base64-encoded (standard alphabet), as Agent's.
	SecretHash []byte
	// SDKKeys go into the sdk_keys claim of the API's tokens.
	SDKKeys []string
}

// IssuerOptions configures NewTokenIssuer.
type IssuerOptions struct {
	// Clients may ask for tokens. Required; IDs are unique.
	Clients []OAuthClient
	// Secret signs the tokens (HS256); the first of the verifier's HMAC
	// secrets. At least MinHMACSecretBytes.
	Secret []byte
	// TTL is the tokens' lifetime. Required.
	TTL time.Duration
	// Admin issues tokens for the admin listener (claim admin: true, no
	// sdk_keys), as Agent's admin /oauth/token.
	Admin bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenIssuer answers POST /oauth/token: a client's credentials buy an
// HS256 token, as Agent's token endpoint.
type TokenIssuer struct {
	clients map[string]OAuthClient
	secret  []byte
	ttl     time.Duration
	admin   bool
	now     func() time.Time
	// bcrypt costs tens of milliseconds of CPU per check: at most one
	// check per CPU runs at once, the rest wait for their turn within
	// their request's deadline.
	slots chan struct{}
	// decoy is checked when the client ID is unknown, at the highest
	// cost of the clients' hashes, so an unknown ID costs what a known
	// one does and answers in as long.
	decoy []byte
}

// NewTokenIssuer checks opts and returns an issuer.
func NewTokenIssuer(opts IssuerOptions) (*TokenIssuer, error) {
	if len(opts.Clients) == 0 {
		return nil, errors.New("server: token issuer: no client is configured")
	}
	if len(opts.Secret) < MinHMACSecretBytes {
		return nil, fmt.Errorf("server: token issuer: the signing secret has %d bytes, at least %d are required", len(opts.Secret), MinHMACSecretBytes)
	}
	if opts.TTL <= 0 {
		return nil, errors.New("server: token issuer: the tokens' TTL must be positive")
	}
	t := &TokenIssuer{clients: map[string]OAuthClient{}, secret: opts.Secret, ttl: opts.TTL, admin: opts.Admin, now: opts.Now,
		slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if t.now == nil {
		t.now = time.Now
	}
	maxCost := bcrypt.MinCost
	for i, c := range opts.Clients {
		switch {
		case c.ID == "":
			return nil, fmt.Errorf("server: token issuer: client %d has no ID", i)
		case len(c.SDKKeys) == 0 && !opts.Admin:
			return nil, fmt.Errorf("server: token issuer: client %q has no SDK key", c.ID)
		}
		cost, err := bcrypt.Cost(c.SecretHash)
		if err != nil {
			return nil, fmt.Errorf("server: token issuer: client %q: the secret hash is not a bcrypt hash: %w", c.ID, err)
		}
		maxCost = max(maxCost, cost)
		if _, dup := t.clients[c.ID]; dup {
			return nil, fmt.Errorf("server: token issuer: client %q is listed twice", c.ID)
		}
		t.clients[c.ID] = c
	}
	decoy, err := bcrypt.GenerateFromPassword([]byte("no client has this secret"), maxCost)
	if err != nil {
		return nil, fmt.Errorf("server: token issuer: %w", err)
	}
	t.decoy = decoy
	return t, nil
}

// maxTokenRequestBytes bounds a token request's body.
const maxTokenRequestBytes = 8 << 10

// oauthError is RFC 6749's error answer, as Agent writes it.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

// ServeHTTP issues a token for the client whose credentials the request
// carries: form-encoded, as Agent reads them, or JSON, as Agent's OpenAPI
// document describes them.
func (t *TokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client, err := t.credentials(w, r)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			oe = &oauthError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: err.Error()}
		}
		b, _ := json.Marshal(oe)
		w.Header().Set("Cache-Control", "no-store")
		writeJSONBytes(w, oe.status, append(b, '\n'))
		return
	}
	now := t.now()
	claims := jwt.MapClaims{"iss": "Optimizely", "exp": now.Add(t.ttl).Unix()}
	if t.admin {
		claims["admin"] = true
	} else {
		claims["sdk_keys"] = client.SDKKeys
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		writeErrorStatus(w, http.StatusInternalServerError, "signing the token: "+err.Error())
		return
	}
	b := append([]byte(`{"access_token":`), strconv.Quote(signed)...)
	b = append(b, `,"token_type":"bearer","expires_in":`...)
	b = strconv.AppendInt(b, int64(t.ttl/time.Second), 10)
	b = append(b, "}\n"...)
	w.Header().Set("Cache-Control", "no-store")
	writeJSONBytes(w, http.StatusOK, b)
}

// credentials reads and checks the request's credentials, with Agent's
// statuses and codes: 415 for another content type, 400 invalid_request or
// unsupported_grant_type, 401 invalid_client.
func (t *TokenIssuer) credentials(w http.ResponseWriter, r *http.Request) (OAuthClient, error) {
	var grant, id, secret string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	switch ct {
	case "application/x-www-form-urlencoded":
		r.Body = body
		if err := r.ParseForm(); err != nil {
			return OAuthClient{}, &oauthError{http.StatusBadRequest, "invalid_request", "error parsing request body: " + err.Error()}
		}
		grant, id, secret = r.PostFormValue("grant_type"), r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	case "application/json":
		var req struct {
			GrantType    string `json:"grant_type"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			return OAuthClient{}, &oauthError{http.StatusBadRequest, "invalid_request", "error parsing request body: " + err.Error()}
		}
		grant, id, secret = req.GrantType, req.ClientID, req.ClientSecret
	default:
		return OAuthClient{}, &oauthError{http.StatusUnsupportedMediaType, "invalid_request", "Content-Type header value must be application/x-www-form-urlencoded"}
	}
	switch {
	case grant == "":
		return OAuthClient{}, &oauthError{http.StatusBadRequest, "invalid_request", "grant_type missing from request body"}
	case grant != "client_credentials":
		return OAuthClient{}, &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type"}
	case id == "":
		return OAuthClient{}, &oauthError{http.StatusUnauthorized, "invalid_client", "client_id missing from request body"}
	case secret == "":
		return OAuthClient{}, &oauthError{http.StatusUnauthorized, "invalid_client", "client_secret missing from request body"}
	}
	client, known := t.clients[id]
	hash := client.SecretHash
	if !known {
		hash = t.decoy
	}
	raw, decodeErr := base64.StdEncoding.DecodeString(secret)
	if decodeErr != nil {
		// Checked all the same, so a badly encoded secret answers in as
		// long as a wrong one.
		raw = []byte(secret)
	}
	ok, err := t.check(r.Context(), hash, raw)
	if err != nil {
		return OAuthClient{}, err
	}
	if !ok || !known || decodeErr != nil {
		return OAuthClient{}, &oauthError{http.StatusUnauthorized, "invalid_client", "invalid client_id or client_secret"}
	}
	return client, nil
}

// check compares secret with hash in bcrypt's time, once a slot is free.
func (t *TokenIssuer) check(ctx context.Context, hash, secret []byte) (bool, error) {
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("waiting to check the client's secret: %w", ctx.Err())
	}
	defer func() { <-t.slots }()
	return bcrypt.CompareHashAndPassword(hash, secret) == nil, nil
}
