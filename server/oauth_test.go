package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// clientSecret is a client's secret as Agent's generator makes one (32
// random bytes, base64) and its bcrypt hash at bcrypt's lowest cost, so
// the tests stay fast.
func clientSecret(t testing.TB, raw string) (secret string, hash []byte) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(raw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString([]byte(raw)), hash
}

func postToken(t *testing.T, url, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	res, err := http.Post(url+"/oauth/token", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %s", res.StatusCode, b)
	}
	return res.StatusCode, res.Header, m
}

// TestTokenEndpoint: POST /oauth/token answers as Agent's: a token for good
// credentials (form, as Agent reads them; JSON, as Agent's OpenAPI
// document describes them), and Agent's statuses and error codes for bad
// ones. The token it issues is accepted for its SDK keys and no other.
func TestTokenEndpoint(t *testing.T) {
	secret, hash := clientSecret(t, "0123456789abcdef0123456789abcdef")
	now := time.Unix(2_000_000_000, 0)
	iss, err := NewTokenIssuer(IssuerOptions{
		Clients: []OAuthClient{{ID: "ci", SecretHash: hash, SDKKeys: []string{"k1"}}},
		Secret:  hmacNew, TTL: 30 * time.Minute, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServiceWith(t, v1v2, Options{JWT: newVerifier(t, JWTOptions{HMACSecrets: [][]byte{hmacNew}}), Issuer: iss})
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, contentType, body string
		status                  int
		code, description       string
	}{
		{"JSON content type with a form body", "application/json", form("grant_type", "client_credentials"), 400, "invalid_request", "error parsing request body"},
		{"text/plain", "text/plain", form("grant_type", "client_credentials"), 415, "invalid_request", "Content-Type header value must be"},
		{"no grant_type", formType, form("client_id", "ci", "client_secret", secret), 400, "invalid_request", "grant_type missing from request body"},
		{"password grant", formType, form("grant_type", "password", "client_id", "ci", "client_secret", secret), 400, "unsupported_grant_type", ""},
		{"no client_id", formType, form("grant_type", "client_credentials", "client_secret", secret), 401, "invalid_client", "client_id missing from request body"},
		{"no client_secret", formType, form("grant_type", "client_credentials", "client_id", "ci"), 401, "invalid_client", "client_secret missing from request body"},
		{"unknown client", formType, form("grant_type", "client_credentials", "client_id", "cj", "client_secret", secret), 401, "invalid_client", "invalid client_id or client_secret"},
		{"wrong secret", formType, form("grant_type", "client_credentials", "client_id", "ci", "client_secret", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdeF"))), 401, "invalid_client", "invalid client_id or client_secret"},
		{"the secret not base64-encoded", formType, form("grant_type", "client_credentials", "client_id", "ci", "client_secret", "0123456789abcdef0123456789abcdef"), 401, "invalid_client", "invalid client_id or client_secret"},
		{"the secret's hash sent as the secret", formType, form("grant_type", "client_credentials", "client_id", "ci", "client_secret", base64.StdEncoding.EncodeToString(hash)), 401, "invalid_client", "invalid client_id or client_secret"},
		{"a body over 8 KiB", formType, form("grant_type", "client_credentials", "client_id", strings.Repeat("c", 9<<10), "client_secret", secret), 400, "invalid_request", "too large"},
	} {
		status, h, m := postToken(t, s.url, c.contentType, c.body)
		if status != c.status || m["error"] != c.code || !strings.Contains(asString(m["error_description"]), c.description) || m["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %s %q", c.name, status, m, c.status, c.code, c.description)
		}
		if h.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, h.Get("Content-Type"))
		}
	}

	for _, c := range []struct{ name, contentType, body string }{
		{"form", formType, form("grant_type", "client_credentials", "client_id", "ci", "client_secret", secret)},
		{"JSON", "application/json; charset=utf-8", `{"grant_type":"client_credentials","client_id":"ci","client_secret":"` + secret + `"}`},
	} {
		status, h, m := postToken(t, s.url, c.contentType, c.body)
		if status != 200 || m["token_type"] != "bearer" || m["expires_in"] != float64(1800) || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v %v, want 200, a bearer token for 1800 s", c.name, status, m, h)
		}
		tok := asString(m["access_token"])
		// Agent's claims, exactly: iss, sdk_keys, exp.
		var claims map[string]any
		parsed, err := jwt.ParseWithClaims(tok, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return hmacNew, nil }, jwt.WithTimeFunc(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		claims = parsed.Claims.(jwt.MapClaims)
		if parsed.Method.Alg() != "HS256" || len(claims) != 3 || claims["iss"] != "Optimizely" || claims["exp"] != float64(now.Add(30*time.Minute).Unix()) ||
			len(claims["sdk_keys"].([]any)) != 1 || claims["sdk_keys"].([]any)[0] != "k1" {
			t.Errorf("%s: %s claims %v", c.name, parsed.Method.Alg(), claims)
		}
	}
	// A token issued now (the clock above is in 2033) is accepted for k1
	// and no other key.
	real, err := NewTokenIssuer(IssuerOptions{Clients: []OAuthClient{{ID: "ci", SecretHash: hash, SDKKeys: []string{"k1"}}}, Secret: hmacNew, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	real.ServeHTTP(rec, formRequest(form("grant_type", "client_credentials", "client_id", "ci", "client_secret", secret)))
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	tok := asString(m["access_token"])
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, append([]string{sdkKeyHeader, "k1"}, bearer(tok)...)...); r.status != 200 {
		t.Errorf("the issued token for its SDK key: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, append([]string{sdkKeyHeader, "k2"}, bearer(tok)...)...); r.status != 401 {
		t.Errorf("the issued token for another SDK key: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/oauth/token", ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /oauth/token: %d %v", r.status, r.header)
	}
	// Without an issuer, /oauth/token says why it is not there.
	bare := newTestService(t, v1)
	if r := bare.do(t, "POST", "/oauth/token", form("grant_type", "client_credentials"), "Content-Type", formType); r.status != 404 || !strings.Contains(string(r.body), "server.auth") {
		t.Errorf("no issuer: %d %s", r.status, r.body)
	}
}

func formRequest(body string) *http.Request {
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func asString(v any) string { s, _ := v.(string); return s }

// TestTokenIssuerOptions: bad configurations are refused, naming the
// client.
func TestTokenIssuerOptions(t *testing.T) {
	_, hash := clientSecret(t, "0123456789abcdef0123456789abcdef")
	good := OAuthClient{ID: "ci", SecretHash: hash, SDKKeys: []string{"k1"}}
	for _, c := range []struct {
		name string
		opts IssuerOptions
		want string
	}{
		{"no client", IssuerOptions{Secret: hmacNew, TTL: time.Minute}, "no client"},
		{"short secret", IssuerOptions{Clients: []OAuthClient{good}, Secret: []byte("short"), TTL: time.Minute}, "at least 32"},
		{"no TTL", IssuerOptions{Clients: []OAuthClient{good}, Secret: hmacNew}, "TTL"},
		{"no SDK key", IssuerOptions{Clients: []OAuthClient{{ID: "x", SecretHash: hash}}, Secret: hmacNew, TTL: time.Minute}, `client "x" has no SDK key`},
		{"not bcrypt", IssuerOptions{Clients: []OAuthClient{{ID: "x", SecretHash: []byte("plain"), SDKKeys: []string{"k"}}}, Secret: hmacNew, TTL: time.Minute}, `client "x": the secret hash is not a bcrypt hash`},
		{"twice", IssuerOptions{Clients: []OAuthClient{good, good}, Secret: hmacNew, TTL: time.Minute}, `client "ci" is listed twice`},
	} {
		if _, err := NewTokenIssuer(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestTokenEndpointDecoy: an unknown client ID costs a bcrypt check at the
// clients' highest cost, as a known one with a wrong secret does, so the
// answer's time does not tell which IDs exist (bcrypt's comparison is
// itself constant-time).
func TestTokenEndpointDecoy(t *testing.T) {
	secret, hash := clientSecret(t, "0123456789abcdef0123456789abcdef")
	hash6, err := bcrypt.GenerateFromPassword([]byte("another"), bcrypt.MinCost+2)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewTokenIssuer(IssuerOptions{Clients: []OAuthClient{{ID: "ci", SecretHash: hash, SDKKeys: []string{"k1"}}, {ID: "cj", SecretHash: hash6, SDKKeys: []string{"k1"}}}, Secret: hmacNew, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(iss.decoy); cost != bcrypt.MinCost+2 {
		t.Errorf("decoy cost %d, want the clients' highest, %d", cost, bcrypt.MinCost+2)
	}
	// With every check slot taken, an unknown ID waits for one as a known
	// ID does: it is checked, not refused at once.
	for range cap(iss.slots) {
		iss.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, id := range []string{"ci", "nobody"} {
		rec := httptest.NewRecorder()
		iss.ServeHTTP(rec, formRequest("grant_type=client_credentials&client_id="+id+"&client_secret="+url.QueryEscape(secret)+"x").WithContext(ctx))
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "waiting to check the client's secret") {
			t.Errorf("client %s with every slot taken: %d %s, want 503 after waiting for a slot", id, rec.Code, rec.Body)
		}
	}
}

// TestAdminJWT: the admin listener takes a token whose admin claim is
// true (Agent's admin rule) and issues them; an API token is refused.
func TestAdminJWT(t *testing.T) {
	secret, hash := clientSecret(t, "0123456789abcdef0123456789abcdef")
	iss, err := NewTokenIssuer(IssuerOptions{Clients: []OAuthClient{{ID: "ops", SecretHash: hash}}, Secret: hmacNew, TTL: time.Minute, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(NewAdmin(AdminOptions{Gatherer: prometheus.NewRegistry(), JWT: newVerifier(t, JWTOptions{HMACSecrets: [][]byte{hmacNew}}), Issuer: iss}))
	defer admin.Close()
	status, _, m := postToken(t, admin.URL, "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=ops&client_secret="+url.QueryEscape(secret))
	if status != 200 {
		t.Fatalf("admin token: %d %v", status, m)
	}
	get := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", admin.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := get(asString(m["access_token"])); st != 200 {
		t.Errorf("/metrics with the admin token: %d %s", st, body)
	}
	if st, body := get(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k1"))); st != 401 || !strings.Contains(body, msgNotAdminFlag) {
		t.Errorf("/metrics with an API token: %d %s", st, body)
	}
	if st, body := get(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"exp": time.Now().Add(time.Minute).Unix(), "admin": "true"})); st != 401 || !strings.Contains(body, msgNotAdminFlag) {
		t.Errorf("/metrics with admin as a string: %d %s", st, body)
	}
}

// testClientSecretB64 is the secret of testIssuer's client "ci", as the
// client sends it.
var testClientSecretB64 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// testIssuer issues tokens for k1 to client "ci".
func testIssuer(t testing.TB) *TokenIssuer {
	t.Helper()
	_, hash := clientSecret(t, "0123456789abcdef0123456789abcdef")
	iss, err := NewTokenIssuer(IssuerOptions{Clients: []OAuthClient{{ID: "ci", SecretHash: hash, SDKKeys: []string{"k1"}}}, Secret: hmacNew, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}
