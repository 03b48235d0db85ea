package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// The secret "0123456789abcdef0123456789abcdef" (base64 as a client sends
// it) and base64 of its bcrypt hash (cost 4), and a 32-byte HMAC secret.
const (
	testClientSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	testSecretHash   = "JDJhJDA0JFh4RU5BNVVuSVRob3p1bmZoNGguR2VqZTlBbTBab3AxRmVpZDJGeHVURTRvcnNNVy9mZk5H"
	testHMACSecret   = "dGhlLWhtYWMtc2VjcmV0LW9mLTMyLWJ5dGVzLWF0LWxlYXN0IQ=="
)

// TestServiceAuth: server.auth and server.admin_auth reach the listeners:
// each issues tokens to its clients at /oauth/token, takes them where the
// static tokens are taken, and refuses the other listener's.
func TestServiceAuth(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	cfg := serviceConfig(t, df.URL)
	cfg.Server.Tokens = []string{"a-static-token-0123456789"}
	extra := parse(t, memoryEnv+`
server:
  auth:
    hmac_secrets: [`+testHMACSecret+`]
    clients: [{id: ci, secret_hash: `+testSecretHash+`, sdk_keys: [k1]}]
  admin_auth:
    hmac_secrets: [`+testHMACSecret+`]
    clients: [{id: ops, secret_hash: `+testSecretHash+`}]
`)
	cfg.Server.Auth, cfg.Server.AdminAuth = extra.Server.Auth, extra.Server.AdminAuth
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, cfg, ServiceOptions{})
	addrs := svc.Addrs()
	api, admin := "http://"+addrs[0].String(), "http://"+addrs[1].String()
	token := func(base, id string) string {
		res, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {testClientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s/oauth/token for %s: %d %v", base, id, res.StatusCode, err)
		}
		return m.AccessToken
	}
	get := func(u, tok string) int {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Optimizely-SDK-Key", "k1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	apiTok, adminTok := token(api, "ci"), token(admin, "ops")
	for _, c := range []struct {
		url, tok string
		want     int
	}{
		{api + "/v1/config", apiTok, 200},
		{api + "/v1/config", "a-static-token-0123456789", 200},
		{api + "/v1/config", adminTok, 401},
		{admin + "/metrics", adminTok, 200},
		{admin + "/metrics", apiTok, 401},
	} {
		if got := get(c.url, c.tok); got != c.want {
			t.Errorf("%s with %s…: %d, want %d", c.url, c.tok[:8], got, c.want)
		}
	}
}

// TestServiceJWKSMetrics: with a JWKS on the API, /metrics counts its
// fetches and failed refreshes for that listener, and for no other.
func TestServiceJWKSMetrics(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	defer jwks.Close()
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	cfg := serviceConfig(t, df.URL)
	const adminToken = "an-admin-token-0123456789"
	cfg.Server.AdminTokens = []string{adminToken}
	cfg.Server.Auth.JWKSURL = jwks.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, cfg, ServiceOptions{})
	req, _ := http.NewRequest("GET", "http://"+svc.Addrs()[1].String()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`stickybucket_jwks_fetches_total{listener="api"} 1`,
		`stickybucket_jwks_refresh_failures_total{listener="api"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics (%d) lacks %s", res.StatusCode, want)
		}
	}
	if strings.Contains(string(body), `listener="admin"`) {
		t.Error("/metrics has JWKS counts for the admin listener, which has no JWKS")
	}
}

// TestServiceAuthJWKSUnreachable: a JWKS that cannot be fetched at start
// stops the start, naming the key.
func TestServiceAuthJWKSUnreachable(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	cfg := serviceConfig(t, df.URL)
	cfg.Server.Auth.JWKSURL = gone.URL
	_, err := NewService(context.Background(), cfg, ServiceOptions{Log: slog.New(slog.DiscardHandler), Signals: make(chan os.Signal)})
	if err == nil || !strings.Contains(err.Error(), "server.auth") || !strings.Contains(err.Error(), gone.URL) {
		t.Errorf("NewService with an unreachable JWKS: %v", err)
	}
}

// TestServerTokensJWTIsAuthenticated: a listener beyond loopback that
// takes JWTs needs no static token; without either it is refused.
func TestServerTokensJWTIsAuthenticated(t *testing.T) {
	cfg := parse(t, memoryEnv+`
server:
  listen: "0.0.0.0:8080"
  admin_listen: "0.0.0.0:8088"
  auth: {hmac_secrets: [`+testHMACSecret+`]}
`).Server
	if _, _, err := serverTokens(cfg); err == nil || !strings.Contains(err.Error(), "server.admin_listen") {
		t.Errorf("the admin listener beyond loopback with neither tokens nor JWTs: %v", err)
	}
	cfg.AdminAuth.JWKSURL = "https://issuer.example/jwks"
	if _, _, err := serverTokens(cfg); err != nil {
		t.Errorf("both listeners take JWTs: %v", err)
	}
}
