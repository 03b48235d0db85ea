package agentauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/integration/agentbuild"
	"github.com/stickybucket/stickybucket/server"
	"github.com/stickybucket/stickybucket/ups"
)

const sdkKey = "k1"

var (
	hmacSecret   = []byte("a-shared-hmac-secret-of-32-bytes-at-least")
	clientSecret = []byte("0123456789abcdef0123456789abcdef")
)

// agentBinary is Agent built from its source (cached across runs) by
// agentbuild; without the source the test is skipped, or fails under
// CI=true.
func agentBinary(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, note, err := agentbuild.Binary(ctx, filepath.Join("..", ".."))
	switch {
	case errors.Is(err, agentbuild.ErrNoSource) && os.Getenv("CI") != "true":
		t.Skipf("%v; set AGENT_SRC_TGZ to Agent's source tarball (%s)", err, agentbuild.TarballName)
	case err != nil:
		t.Fatal(err)
	}
	t.Log(note)
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAgent runs Agent with api.auth and admin.auth on the shared secret
// and client, its datafile from files.
func startAgent(t *testing.T, files *httptest.Server, hashB64 string) (api, admin string) {
	bin := agentBinary(t)
	ports := []int{freePort(t), freePort(t), freePort(t)}
	secret := base64.StdEncoding.EncodeToString(hmacSecret)
	auth := fmt.Sprintf(`  auth:
    hmacSecrets: [%q]
    ttl: 30m
    clients:
      - id: ci
        secretHash: %q
        sdkKeys: [%q]
`, secret, hashB64, sdkKey)
	conf := fmt.Sprintf(`log:
  level: warn
server:
  host: 127.0.0.1
api:
  port: "%d"
%sadmin:
  port: "%d"
%swebhook:
  port: "%d"
client:
  datafileURLTemplate: %q
  eventURL: %q
  pollingInterval: 10m
  odp:
    disable: true
`, ports[0], auth, ports[1], auth, ports[2], files.URL+"/%s.json", files.URL+"/events")
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "OPTIMIZELY_") }), "OPTIMIZELY_CONFIG_FILENAME="+path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	api, admin = fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(admin + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return api, admin
			}
		}
		select {
		case <-done:
			t.Fatalf("agent exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not healthy in 30s:\n%s", out.String())
		}
	}
}

type catalog struct{ d server.Datafile }

func (c catalog) Datafile(key string) (server.Datafile, error) {
	if key != c.d.SDKKey {
		return server.Datafile{}, fmt.Errorf("SDK key %q: %w", key, server.ErrUnknownSDKKey)
	}
	return c.d, nil
}

// startServe builds serve's API and admin handlers with the same secret and
// client.
func startServe(t *testing.T, raw, hash []byte) (api, admin string) {
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := ups.NewMemory(ups.MemoryOptions{})
	c, err := decision.NewClient(decision.Options{Datafile: df, Profiles: store})
	if err != nil {
		t.Fatal(err)
	}
	v, err := server.NewJWTVerifier(context.Background(), server.JWTOptions{HMACSecrets: [][]byte{hmacSecret}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	clients := []server.OAuthClient{{ID: "ci", SecretHash: hash, SDKKeys: []string{sdkKey}}}
	apiIssuer, err := server.NewTokenIssuer(server.IssuerOptions{Clients: clients, Secret: hmacSecret, TTL: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	adminIssuer, err := server.NewTokenIssuer(server.IssuerOptions{Clients: clients, Secret: hmacSecret, TTL: 30 * time.Minute, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.NewAPI(server.Options{Catalog: catalog{server.Datafile{SDKKey: sdkKey, Client: c, Raw: raw}}, Profiles: store, JWT: v, Issuer: apiIssuer})
	if err != nil {
		t.Fatal(err)
	}
	a := httptest.NewServer(h)
	t.Cleanup(a.Close)
	m := httptest.NewServer(server.NewAdmin(server.AdminOptions{Gatherer: prometheus.NewRegistry(), JWT: v, Issuer: adminIssuer}))
	t.Cleanup(m.Close)
	return a.URL, m.URL
}

func call(t *testing.T, method, u, contentType, body string, header ...string) (int, []byte) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b
}

// tokenFrom asks base's /oauth/token for a token with the shared client.
func tokenFrom(t *testing.T, base string) (string, map[string]any) {
	st, b := call(t, "POST", base+"/oauth/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci"}, "client_secret": {base64.StdEncoding.EncodeToString(clientSecret)}}.Encode())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || st != 200 {
		t.Fatalf("%s/oauth/token: %d %s", base, st, b)
	}
	tok, _ := m["access_token"].(string)
	return tok, m
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAgentAuth: the same tokens and token requests, to Agent and to
// serve: the same statuses (and, at the token endpoint, the same error
// codes and descriptions); each accepts the other's tokens.
func TestAgentAuth(t *testing.T) {
	raw, err := os.ReadFile("../../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+sdkKey+".json" {
			_, _ = w.Write(raw)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer files.Close()
	hash, err := bcrypt.GenerateFromPassword(clientSecret, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	agentAPI, agentAdmin := startAgent(t, files, base64.StdEncoding.EncodeToString(hash))
	serveAPI, serveAdmin := startServe(t, raw, hash)

	// The token endpoints: the same answer to each request.
	form := "application/x-www-form-urlencoded"
	good := base64.StdEncoding.EncodeToString(clientSecret)
	for _, c := range []struct{ name, contentType, body string }{
		{"good", form, "grant_type=client_credentials&client_id=ci&client_secret=" + url.QueryEscape(good)},
		{"wrong secret", form, "grant_type=client_credentials&client_id=ci&client_secret=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("x")))},
		{"secret not base64", form, "grant_type=client_credentials&client_id=ci&client_secret=%21%21"},
		{"unknown client", form, "grant_type=client_credentials&client_id=cx&client_secret=" + url.QueryEscape(good)},
		{"no grant_type", form, "client_id=ci&client_secret=" + url.QueryEscape(good)},
		{"password grant", form, "grant_type=password&client_id=ci&client_secret=" + url.QueryEscape(good)},
		{"no client_id", form, "grant_type=client_credentials&client_secret=" + url.QueryEscape(good)},
		{"no client_secret", form, "grant_type=client_credentials&client_id=ci"},
		{"text/plain", "text/plain", "grant_type=client_credentials&client_id=ci&client_secret=" + url.QueryEscape(good)},
	} {
		for _, pair := range [][2]string{{agentAPI, serveAPI}, {agentAdmin, serveAdmin}} {
			as, ab := call(t, "POST", pair[0]+"/oauth/token", c.contentType, c.body)
			ss, sb := call(t, "POST", pair[1]+"/oauth/token", c.contentType, c.body)
			var am, sm map[string]any
			_ = json.Unmarshal(ab, &am)
			_ = json.Unmarshal(sb, &sm)
			if as != ss || am["error"] != sm["error"] || am["error_description"] != sm["error_description"] ||
				am["token_type"] != sm["token_type"] || am["expires_in"] != sm["expires_in"] || (am["access_token"] == nil) != (sm["access_token"] == nil) {
				t.Errorf("token request %q to %s: Agent %d %s; serve %d %s", c.name, pair[0], as, ab, ss, sb)
			}
		}
	}
	// A JSON request: Agent's code refuses it (415) though its OpenAPI
	// document describes one; serve takes it.
	jsonBody := `{"grant_type":"client_credentials","client_id":"ci","client_secret":"` + good + `"}`
	if st, b := call(t, "POST", agentAPI+"/oauth/token", "application/json", jsonBody); st != 415 {
		t.Errorf("Agent with a JSON token request: %d %s (serve's difference documented as Agent refusing it)", st, b)
	}
	if st, b := call(t, "POST", serveAPI+"/oauth/token", "application/json", jsonBody); st != 200 {
		t.Errorf("serve with a JSON token request: %d %s", st, b)
	}

	agentTok, _ := tokenFrom(t, agentAPI)
	serveTok, _ := tokenFrom(t, serveAPI)
	agentAdminTok, _ := tokenFrom(t, agentAdmin)
	serveAdminTok, _ := tokenFrom(t, serveAdmin)
	now := time.Now()
	other := []byte("another-hmac-secret-of-32-bytes-at-least!")
	for _, c := range []struct {
		name, authorization string
		sdkKey              string
	}{
		{"Agent's token", "Bearer " + agentTok, sdkKey},
		{"serve's token", "Bearer " + serveTok, sdkKey},
		{"Agent's admin token", "Bearer " + agentAdminTok, sdkKey},
		{"serve's admin token", "Bearer " + serveAdminTok, sdkKey},
		{"no header", "", sdkKey},
		{"Basic", "Basic " + agentTok, sdkKey},
		{"garbage", "Bearer abc.def.ghi", sdkKey},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{sdkKey}, "exp": now.Add(-time.Minute).Unix()}), sdkKey},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{sdkKey}}), sdkKey},
		{"not yet valid", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{sdkKey}, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour / 2).Unix()}), sdkKey},
		{"issued in the future", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{sdkKey}, "exp": now.Add(time.Hour).Unix(), "iat": now.Add(time.Hour / 2).Unix()}), sdkKey},
		{"another secret", "Bearer " + sign(t, jwt.SigningMethodHS256, other, jwt.MapClaims{"sdk_keys": []string{sdkKey}, "exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sdk_keys": []string{sdkKey}, "exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"no sdk_keys", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"sdk_keys a string", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": sdkKey, "exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"another SDK key", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{"k2"}, "exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"a number next to the key", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []any{7, sdkKey}, "exp": now.Add(time.Hour).Unix()}), sdkKey},
		{"a wildcard", "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, jwt.MapClaims{"sdk_keys": []string{"*"}, "exp": now.Add(time.Hour).Unix()}), sdkKey},
	} {
		for _, route := range []struct{ path, admin string }{{"/v1/config", ""}, {"/metrics", "admin"}} {
			a, s := agentAPI, serveAPI
			if route.admin != "" {
				a, s = agentAdmin, serveAdmin
			}
			h := []string{"X-Optimizely-SDK-Key", c.sdkKey}
			if c.authorization != "" {
				h = append(h, "Authorization", c.authorization)
			}
			as, ab := call(t, "GET", a+route.path, "", "", h...)
			ss, sb := call(t, "GET", s+route.path, "", "", h...)
			if as != ss {
				t.Errorf("%s on %s: Agent %d %.200s; serve %d %.200s", c.name, route.path, as, ab, ss, sb)
			} else {
				t.Logf("%s on %s: both %d", c.name, route.path, as)
			}
		}
	}

	// Where serve deliberately differs, in how a token is carried: the
	// scheme is case-insensitive (RFC 7235) in serve, not in Agent, and
	// Agent also reads a token from headers Auth and Jwt, which serve does
	// not. Each is checked on both, so a change on either side shows.
	for _, c := range []struct {
		name          string
		header        []string
		agent, served int
	}{
		{"lower-case bearer", []string{"Authorization", "bearer " + agentTok}, 401, 200},
		{"the token alone in Auth", []string{"Auth", agentTok}, 200, 401},
		{"the token alone in Jwt", []string{"Jwt", agentTok}, 200, 401},
		{"JWT scheme", []string{"Authorization", "JWT " + agentTok}, 401, 401},
	} {
		h := append([]string{"X-Optimizely-SDK-Key", sdkKey}, c.header...)
		as, ab := call(t, "GET", agentAPI+"/v1/config", "", "", h...)
		ss, sb := call(t, "GET", serveAPI+"/v1/config", "", "", h...)
		if as != c.agent || ss != c.served {
			t.Errorf("%s: Agent %d %.200s, serve %d %.200s; want %d and %d", c.name, as, ab, ss, sb, c.agent, c.served)
		}
	}
}
