package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var v1v2 = map[string]string{"k1": "../examples/datafile-v1.json", "k2": "../examples/datafile-v2.json"}

// Two HMAC secrets: the first signs, both verify.
var (
	hmacNew = []byte("the-new-hmac-secret-of-32-bytes-at-least!")
	hmacOld = []byte("the-old-hmac-secret-of-32-bytes-at-least!")
)

func signJWT(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func apiClaims(keys ...any) jwt.MapClaims {
	return jwt.MapClaims{"iss": "Optimizely", "exp": time.Now().Add(time.Hour).Unix(), "sdk_keys": keys}
}

// jwksServer serves a key set that tests change, on loopback, and reports
// each fetch.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
	fetched chan int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{fetched: make(chan int64, 1024)}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		b := j.body
		j.mu.Unlock()
		n := j.fetches.Add(1)
		select {
		case j.fetched <- n:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) serve(t *testing.T, keys ...map[string]string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.body = b
	j.mu.Unlock()
}

// waitFetch waits until the server has been asked for the key set n times.
func (j *jwksServer) waitFetch(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for j.fetches.Load() < n {
		select {
		case <-j.fetched:
		case <-deadline:
			t.Fatalf("the JWKS was fetched %d times in 10s, want %d", j.fetches.Load(), n)
		}
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64url(k.N.Bytes()), "e": b64url(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": b64url(raw[1:33]), "y": b64url(raw[33:])}
}

type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func genKeys() testKeys {
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return keys
}

func newVerifier(t *testing.T, opts JWTOptions) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestJWTRefused: every token below is refused with 401 and a JSON error,
// as Agent refuses them (Agent answers 401 for all, an SDK key outside the
// token's scope included); the good tokens are accepted on the same
// routes.
func TestJWTRefused(t *testing.T) {
	k := genKeys()
	j := newJWKSServer(t)
	j.serve(t, rsaJWK("rsa-1", &k.rsa.PublicKey), ecJWK("ec-1", &k.ec.PublicKey))
	v := newVerifier(t, JWTOptions{HMACSecrets: [][]byte{hmacNew, hmacOld}, JWKSURL: j.URL, JWKSMinRefreshInterval: time.Hour})
	const static = "a-static-token-0123456789"
	tokens, _ := NewTokens(static)
	s := newTestServiceWith(t, v1v2, Options{Tokens: tokens, JWT: v})

	now := time.Now()
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k1"))
	none := signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, apiClaims("k1"))

	for _, c := range []struct {
		name   string
		header []string
		want   string // in the error
	}{
		{"no Authorization header", nil, "no bearer token"},
		{"Basic scheme", []string{"Authorization", "Basic " + good}, "no bearer token"},
		{"no scheme", []string{"Authorization", good}, "no bearer token"},
		{"Bearer and nothing", []string{"Authorization", "Bearer "}, "no bearer token"},
		{"two segments", bearer("eyJhbGciOiJIUzI1NiJ9.e30"), "malformed"},
		{"not base64", bearer("!!!.???.***"), "malformed"},
		{"a byte appended to the signature", bearer(good + "x"), "signature is invalid"},
		{"a wrong static token", bearer("a-static-token-0123456780"), "malformed"},
		{"expired", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1"}, "exp": now.Add(-time.Second).Unix()})), "token is expired"},
		{"no exp", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1"}})), "exp claim is required"},
		{"not yet valid", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1"}, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Minute).Unix()})), "token is not valid yet"},
		{"issued in the future", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1"}, "exp": now.Add(time.Hour).Unix(), "iat": now.Add(time.Minute).Unix()})), "used before issued"},
		{"an unknown HMAC secret", bearer(signJWT(t, jwt.SigningMethodHS256, []byte("not-a-configured-secret-of-32-bytes!!"), nil, apiClaims("k1"))), "signature is invalid"},
		{"alg none", bearer(none), "signing method none is invalid"},
		{"alg none over a valid token's payload and signature", bearer(b64url([]byte(`{"alg":"none","typ":"JWT"}`)) + good[strings.Index(good, "."):]), "signing method none is invalid"},
		{"HS384", bearer(signJWT(t, jwt.SigningMethodHS384, hmacNew, nil, apiClaims("k1"))), "signing method HS384 is invalid"},
		{"HS256 with the RSA public key (PEM) as secret", bearer(signJWT(t, jwt.SigningMethodHS256, pubPEM, map[string]any{"kid": "rsa-1"}, apiClaims("k1"))), "signature is invalid"},
		{"HS256 with the RSA public key (DER) as secret", bearer(signJWT(t, jwt.SigningMethodHS256, pubDER, map[string]any{"kid": "rsa-1"}, apiClaims("k1"))), "signature is invalid"},
		{"RS256 by a key not in the JWKS, its kid", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "rsa-1"}, apiClaims("k1"))), "verification error"},
		{"RS256 with an unknown kid", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "nobody"}, apiClaims("k1"))), `kid "nobody" is not in the JWKS`},
		{"RS256 without kid", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa, nil, apiClaims("k1"))), "no string kid"},
		{"RS256 with a number for kid", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": 7}, apiClaims("k1"))), "no string kid"},
		{"ES256 token under the RSA key's kid", bearer(signJWT(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": "rsa-1"}, apiClaims("k1"))), "does not match"},
		{"PS256", bearer(signJWT(t, jwt.SigningMethodPS256, k.rsa, map[string]any{"kid": "rsa-1"}, apiClaims("k1"))), "signing method PS256 is invalid"},
		{"no sdk_keys claim", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()})), msgNoSDKKeys},
		{"sdk_keys a string", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "sdk_keys": "k1"})), msgNoSDKKeys},
		{"another SDK key in scope", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k2"))), msgSDKKeyScope},
		{"the SDK key as a number", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims(1))), msgSDKKeyScope},
		{"a wildcard is no SDK key", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("*"))), msgSDKKeyScope},
		{"empty sdk_keys", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "sdk_keys": []string{}})), msgSDKKeyScope},
		{"null sdk_keys", bearer(signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "sdk_keys": nil})), msgNoSDKKeys},
		{"an RS256 token for another SDK key", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "rsa-1"}, apiClaims("k2"))), msgSDKKeyScope},
	} {
		for _, path := range []string{"/v1/decide?keys=new_search", "/v1/lookup"} {
			h := append([]string{sdkKeyHeader, "k1"}, c.header...)
			r := s.do(t, "POST", path, alice, h...)
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s on %s: %d %s, want 401 with WWW-Authenticate", c.name, path, r.status, r.body)
				continue
			}
			var e struct{ Error string }
			if err := json.Unmarshal(r.body, &e); err != nil || !strings.Contains(e.Error, c.want) {
				t.Errorf("%s on %s: error %q (%v), want it to say %q", c.name, path, r.body, err, c.want)
			}
		}
	}
	// No SDK key header: the empty key is in no token's scope, though the
	// service would pick the only datafile for a static token.
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, bearer(good)...); r.status != 401 {
		t.Errorf("no SDK key header: %d %s, want 401", r.status, r.body)
	}

	for _, c := range []struct {
		name   string
		header []string
	}{
		{"HS256 signed with the first secret", bearer(good)},
		{"HS256 signed with the second (older) secret", bearer(signJWT(t, jwt.SigningMethodHS256, hmacOld, nil, apiClaims("k0", "k1")))},
		{"lower-case bearer", []string{"Authorization", "bearer " + good}},
		{"RS256 from the JWKS", bearer(signJWT(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "rsa-1"}, apiClaims("k1")))},
		{"ES256 from the JWKS", bearer(signJWT(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": "ec-1"}, apiClaims("k1", 5)))},
		{"the static token", bearer(static)},
	} {
		for _, path := range []string{"/v1/decide?keys=new_search", "/v1/lookup", "/v1/ups/lookup"} {
			body := alice
			if path == "/v1/ups/lookup" {
				body = `{"user_id":"alice"}`
			}
			if r := s.do(t, "POST", path, body, append([]string{sdkKeyHeader, "k1"}, c.header...)...); r.status != 200 {
				t.Errorf("%s on %s: %d %s, want 200", c.name, path, r.status, r.body)
			}
		}
	}
	if j.fetches.Load() != 2 {
		// The start's fetch and one refresh for the unknown kid "nobody";
		// the refresh bound kept every later unknown kid from fetching.
		t.Errorf("the JWKS was fetched %d times, want 2", j.fetches.Load())
	}
}

// TestJWKSRotation: a kid the issuer adds is accepted once the set is
// fetched again (at once, for a token naming it); a kid it removes is
// refused after the next interval's fetch.
func TestJWKSRotation(t *testing.T) {
	k := genKeys()
	j := newJWKSServer(t)
	j.serve(t, rsaJWK("old", &k.rsa.PublicKey))
	// The interval is short, and each step waits for the fetches it needs.
	v := newVerifier(t, JWTOptions{JWKSURL: j.URL, JWKSUpdateInterval: 20 * time.Millisecond, JWKSMinRefreshInterval: time.Hour})
	s := newTestServiceWith(t, v1, Options{JWT: v})
	decide := func(tok string) int {
		return s.do(t, "POST", "/v1/decide?keys=new_search", alice, append([]string{sdkKeyHeader, "k1"}, bearer(tok)...)...).status
	}
	oldTok := signJWT(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "old"}, apiClaims("k1"))
	newTok := signJWT(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": "new"}, apiClaims("k1"))
	if st := decide(oldTok); st != 200 {
		t.Fatalf("the old kid before rotation: %d", st)
	}
	if st := decide(newTok); st != 401 {
		t.Fatalf("the new kid before the issuer has it: %d", st)
	}
	// The issuer publishes the new key next to the old one.
	j.serve(t, rsaJWK("old", &k.rsa.PublicKey), ecJWK("new", &k.ec.PublicKey))
	n := j.fetches.Load()
	// A fetch that starts after the change serves the new set; the
	// refreshes run one after another, so once the next one has started,
	// that one's keys are stored.
	j.waitFetch(t, n+2)
	if st := decide(newTok); st != 200 {
		t.Fatalf("the new kid after a refresh: %d", st)
	}
	// The issuer drops the old key.
	j.serve(t, ecJWK("new", &k.ec.PublicKey))
	j.waitFetch(t, j.fetches.Load()+2)
	if st := decide(oldTok); st != 401 {
		t.Fatalf("the removed kid after a refresh: %d", st)
	}
	if st := decide(newTok); st != 200 {
		t.Fatalf("the new kid after the old one's removal: %d", st)
	}
}

// stillJWKS serves key "a" of new keys as a JWKS and returns a verifier of
// it with hour-long refresh intervals, whose clock stands at *now (tests
// move it).
func stillJWKS(t *testing.T) (testKeys, *jwksServer, *JWTVerifier, *time.Time) {
	t.Helper()
	k := genKeys()
	j := newJWKSServer(t)
	j.serve(t, rsaJWK("a", &k.rsa.PublicKey))
	v := newVerifier(t, JWTOptions{JWKSURL: j.URL, JWKSUpdateInterval: time.Hour, JWKSMinRefreshInterval: time.Hour})
	now := new(time.Time)
	*now = time.Now()
	v.now = func() time.Time { return *now }
	return k, j, v, now
}

// JWKSStats counts the key set's fetches and the refreshes that failed:
// the first fetch, a refresh for an unknown kid that finds a set it cannot
// decode (a failure, the keys kept), and one that works again.
func TestJWKSStats(t *testing.T) {
	k, j, v, now := stillJWKS(t)
	if st, ok := v.JWKSStats(); !ok || st != (JWKSStats{Fetches: 1}) {
		t.Fatalf("after the start: %+v %v, want one fetch", st, ok)
	}
	j.mu.Lock()
	j.body = []byte("not a key set")
	j.mu.Unlock()
	if v.jwks.has("b") {
		t.Fatal("an unknown kid was found in a set that cannot be decoded")
	}
	if st, _ := v.JWKSStats(); st != (JWKSStats{Fetches: 2, Failures: 1}) {
		t.Errorf("after a refresh that failed: %+v, want 2 fetches, 1 failure", st)
	}
	if !v.jwks.has("a") {
		t.Error("the keys fetched before the failure were not kept")
	}
	j.serve(t, rsaJWK("a", &k.rsa.PublicKey), rsaJWK("b", &k.rsa2.PublicKey))
	*now = now.Add(2 * time.Hour)
	if !v.jwks.has("b") {
		t.Fatal("a new kid after the refresh bound's interval")
	}
	if st, _ := v.JWKSStats(); st != (JWKSStats{Fetches: 3, Failures: 1}) {
		t.Errorf("after a refresh that worked: %+v, want 3 fetches, 1 failure", st)
	}
	hs, err := NewJWTVerifier(context.Background(), JWTOptions{HMACSecrets: [][]byte{hmacNew}})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	if _, ok := hs.JWKSStats(); ok {
		t.Error("a verifier without a JWKS URL has JWKS stats")
	}
	if _, ok := (*JWTVerifier)(nil).JWKSStats(); ok {
		t.Error("a nil verifier has JWKS stats")
	}
}

// TestJWKSUnknownKidFlood: a new kid makes one fetch, at once; then a
// thousand tokens with random kids, at once, make none until the bound's
// interval has passed, and are refused without waiting.
func TestJWKSUnknownKidFlood(t *testing.T) {
	k, j, v, now := stillJWKS(t)
	j.waitFetch(t, 1)
	j.serve(t, rsaJWK("a", &k.rsa.PublicKey), rsaJWK("b", &k.rsa2.PublicKey))
	req := func() *http.Request {
		r := httptest.NewRequest("POST", "/v1/decide", nil)
		r.Header.Set(sdkKeyHeader, "k1")
		return r
	}
	tokB := signJWT(t, jwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "b"}, apiClaims("k1"))
	if msg := v.authorize(req(), "Bearer "+tokB, scopeSDKKey); msg != "" {
		t.Fatalf("a new kid, first unknown one: %s", msg)
	}
	if got := j.fetches.Load(); got != 2 {
		t.Fatalf("fetches after one unknown kid: %d, want 2", got)
	}
	const flood = 1000
	toks := make([]string, flood)
	for i := range toks {
		toks[i] = signJWT(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": fmt.Sprintf("random-%d", i)}, apiClaims("k1"))
	}
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v.authorize(req(), "Bearer "+tok, scopeSDKKey) == "" {
				accepted.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	if accepted.Load() != 0 {
		t.Errorf("%d tokens with random kids were accepted", accepted.Load())
	}
	if got := j.fetches.Load(); got != 2 {
		t.Errorf("fetches after %d random kids: %d, want still 2", flood, got)
	}
	t.Logf("%d random kids refused in %v", flood, time.Since(start))
	// Once the bound's interval has passed, an unknown kid fetches again,
	// once.
	*now = now.Add(time.Hour)
	j.serve(t, rsaJWK("a", &k.rsa.PublicKey), rsaJWK("b", &k.rsa2.PublicKey), ecJWK("c", &k.ec.PublicKey))
	tokC := signJWT(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": "c"}, jwt.MapClaims{"sdk_keys": []string{"k1"}, "exp": now.Add(3 * time.Hour).Unix()})
	if msg := v.authorize(req(), "Bearer "+tokC, scopeSDKKey); msg != "" {
		t.Errorf("a new kid an hour later: %s", msg)
	}
	if msg := v.authorize(req(), "Bearer "+toks[0], scopeSDKKey); !strings.Contains(msg, `kid "random-0" is not in the JWKS`) {
		t.Errorf("a random kid right after: %q", msg)
	}
	if got := j.fetches.Load(); got != 3 {
		t.Errorf("fetches an hour later, after two unknown kids: %d, want 3", got)
	}
}

// TestJWKSStart: the key set must be fetched at start, and is bounded.
func TestJWKSStart(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`))
	}))
	defer big.Close()
	if _, err := NewJWTVerifier(context.Background(), JWTOptions{JWKSURL: big.URL}); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("a key set over %d bytes: %v", MaxJWKSBytes, err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if _, err := NewJWTVerifier(context.Background(), JWTOptions{JWKSURL: gone.URL}); err == nil || !strings.Contains(err.Error(), gone.URL) {
		t.Errorf("an unreachable JWKS: %v, want an error naming it", err)
	}
	if _, err := NewJWTVerifier(context.Background(), JWTOptions{HMACSecrets: [][]byte{[]byte("short")}}); err == nil {
		t.Error("a 5-byte HMAC secret was accepted")
	}
	if _, err := NewJWTVerifier(context.Background(), JWTOptions{}); err == nil {
		t.Error("a verifier with no key was built")
	}
}

// BenchmarkAuth prices a decide request's authentication: none, a static
// token, an HS256 JWT (issued here) and an RS256 JWT (from a JWKS), the
// handler behind it doing nothing; a JWT is verified on its first request
// and remembered for the next ones (the "first" cases forget it before
// each request).
func BenchmarkAuth(b *testing.B) {
	t := b
	k := genKeys()
	j := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string]any{"keys": []any{rsaJWK("a", &k.rsa.PublicKey)}})
		_, _ = w.Write(body)
	}))
	defer j.Close()
	v, err := NewJWTVerifier(context.Background(), JWTOptions{HMACSecrets: [][]byte{hmacNew, hmacOld}, JWKSURL: j.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	const static = "a-static-token-0123456789"
	tokens, _ := NewTokens(static, "another-static-token-0123")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	hs := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k0", "k1"))
	hsOld := signJWT(t, jwt.SigningMethodHS256, hmacOld, nil, apiClaims("k0", "k1"))
	rs := signJWT(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, apiClaims("k0", "k1"))
	for _, c := range []struct {
		name, authorization string
		h                   http.Handler
	}{
		{"none", "", requireAuth(Tokens{}, nil, scopeSDKKey, ok)},
		{"static", "Bearer " + static, requireAuth(tokens, v, scopeSDKKey, ok)},
		{"HS256", "Bearer " + hs, requireAuth(tokens, v, scopeSDKKey, ok)},
		{"HS256-second-secret", "Bearer " + hsOld, requireAuth(tokens, v, scopeSDKKey, ok)},
		{"RS256-JWKS", "Bearer " + rs, requireAuth(tokens, v, scopeSDKKey, ok)},
		{"HS256-first", "Bearer " + hs, forget(v, requireAuth(tokens, v, scopeSDKKey, ok))},
		{"RS256-JWKS-first", "Bearer " + rs, forget(v, requireAuth(tokens, v, scopeSDKKey, ok))},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("POST", "/v1/decide", nil)
			r.Header.Set(sdkKeyHeader, "k1")
			if c.authorization != "" {
				r.Header.Set("Authorization", c.authorization)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, r)
				if w.Code != 204 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// TestJWTRemembered: a token verified once is taken from memory only while
// its dates allow it and only as the very same string; long tokens are
// not remembered.
func TestJWTRemembered(t *testing.T) {
	v := newVerifier(t, JWTOptions{HMACSecrets: [][]byte{hmacNew}})
	t0 := time.Unix(2_000_000_000, 0)
	now := t0
	v.now = func() time.Time { return now }
	r := httptest.NewRequest("GET", "/v1/config", nil)
	r.Header.Set(sdkKeyHeader, "k1")
	tok := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1"}, "exp": t0.Add(time.Minute).Unix(), "nbf": t0.Unix()})
	if msg := v.authorize(r, "Bearer "+tok, scopeSDKKey); msg != "" {
		t.Fatal(msg)
	}
	if _, ok := v.cache.Get(tok); !ok {
		t.Fatal("a verified token was not remembered")
	}
	// The same token with its signature's last character changed.
	last := tok[len(tok)-1]
	flipped := tok[:len(tok)-1] + string("AB"[map[bool]int{last == 'A': 1, last != 'A': 0}[true]])
	if msg := v.authorize(r, "Bearer "+flipped, scopeSDKKey); !strings.Contains(msg, "signature is invalid") {
		t.Errorf("a changed signature: %q", msg)
	}
	now = t0.Add(59 * time.Second)
	if msg := v.authorize(r, "Bearer "+tok, scopeSDKKey); msg != "" {
		t.Errorf("a second before exp: %q", msg)
	}
	now = t0.Add(time.Minute)
	if msg := v.authorize(r, "Bearer "+tok, scopeSDKKey); !strings.Contains(msg, "token is expired") {
		t.Errorf("at exp, remembered: %q", msg)
	}
	now = t0.Add(-time.Second) // the clock stepped back before nbf
	if msg := v.authorize(r, "Bearer "+tok, scopeSDKKey); !strings.Contains(msg, "not valid yet") {
		t.Errorf("before nbf, remembered: %q", msg)
	}
	now = t0
	long := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"sdk_keys": []string{"k1", strings.Repeat("k", maxCachedToken)}, "exp": t0.Add(time.Minute).Unix()})
	if msg := v.authorize(r, "Bearer "+long, scopeSDKKey); msg != "" {
		t.Fatal(msg)
	}
	if _, ok := v.cache.Get(long); ok {
		t.Error("a token over maxCachedToken was remembered")
	}
}

// forget empties v's remembered tokens before each request to h.
func forget(v *JWTVerifier, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.cache.Purge()
		h.ServeHTTP(w, r)
	})
}

// BenchmarkDecideHandlerAuth is BenchmarkDecideHandler with no token, a
// static token, and remembered HS256 and RS256 (JWKS) tokens: what
// authentication adds to a whole decide request.
func BenchmarkDecideHandlerAuth(b *testing.B) {
	k := genKeys()
	j := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string]any{"keys": []any{rsaJWK("a", &k.rsa.PublicKey)}})
		_, _ = w.Write(body)
	}))
	defer j.Close()
	v, err := NewJWTVerifier(context.Background(), JWTOptions{HMACSecrets: [][]byte{hmacNew}, JWKSURL: j.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	const static = "a-static-token-0123456789"
	tokens, _ := NewTokens(static)
	open := newTestService(&testing.T{}, v1)
	authed := newTestServiceWith(&testing.T{}, v1, Options{Tokens: tokens, JWT: v})
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = `{"userId":"user-` + strconv.Itoa(i) + `","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0"}}`
	}
	for _, c := range []struct {
		name, authorization string
		s                   *testService
	}{
		{"none", "", open},
		{"static", "Bearer " + static, authed},
		{"HS256", "Bearer " + signJWT(b, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k1")), authed},
		{"RS256-JWKS", "Bearer " + signJWT(b, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, apiClaims("k1")), authed},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/decide?keys=new_search", strings.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(sdkKeyHeader, "k1")
				if c.authorization != "" {
					req.Header.Set("Authorization", c.authorization)
				}
				w := httptest.NewRecorder()
				c.s.handler.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				i++
			}
		})
	}
}

// FuzzJWTAuthorization: whatever the Authorization header, the verifier
// answers (no panic) and accepts nothing but the tokens it was given.
func FuzzJWTAuthorization(f *testing.F) {
	good := signJWT(f, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k1"))
	for _, s := range []string{"", "Bearer", "Bearer " + good, "Bearer " + good[:len(good)-1], "bearer a.b.c", "Bearer ..", "Bearer e30.e30.", "Bearer eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	v, err := NewJWTVerifier(context.Background(), JWTOptions{HMACSecrets: [][]byte{hmacNew}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authorization string) {
		r := httptest.NewRequest("GET", "/v1/config", nil)
		r.Header.Set(sdkKeyHeader, "k1")
		msg := v.authorize(r, authorization, scopeSDKKey)
		if tok := bearerToken(authorization); msg == "" && tok != good {
			t.Errorf("accepted %q", authorization)
		}
	})
}

// TestJWTBatch: a batch needs an API token but no SDK key of its own;
// each operation, inheriting the batch's token or carrying its own, is
// checked by its route against its own SDK key.
func TestJWTBatch(t *testing.T) {
	v := newVerifier(t, JWTOptions{HMACSecrets: [][]byte{hmacNew}})
	s := newBatchService(t, func(o *Options) { o.JWT = v })
	k1 := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k1"))
	k2 := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, apiClaims("k2"))
	admin := signJWT(t, jwt.SigningMethodHS256, hmacNew, nil, jwt.MapClaims{"admin": true, "exp": time.Now().Add(time.Hour).Unix()})
	ct := "application/json"
	body := batchOf(
		op("inherits", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct, sdkKeyHeader, "k1"),
		op("no-key", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct),
		op("own-k2", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct, sdkKeyHeader, "k1", "Authorization", "Bearer "+k2),
	)
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", body, "Authorization", "Bearer "+k1))
	for i, want := range []int{200, 401, 401} {
		if got := a.Response[i]; got.Status != want {
			t.Errorf("operation %s: %d %s, want %d", got.OperationID, got.Status, got.Body, want)
		}
	}
	for _, tok := range []string{"", admin, k1 + "x"} {
		if r := s.do(t, "POST", "/v1/batch", body, "Authorization", "Bearer "+tok); r.status != 401 {
			t.Errorf("a batch with %.20q: %d %s, want 401", tok, r.status, r.body)
		}
	}
}
