package config

import (
	"strings"
	"testing"
	"time"
)

// A 32-byte secret, base64.
const testHMACSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestAuthKeys(t *testing.T) {
	cfg, err := Parse([]byte(`
server:
  auth:
    hmac_secrets: [`+testHMACSecret+`]
    ttl: 30m
    clients:
      - {id: ci, secret_hash: `+testSecretHash+`, sdk_keys: [k1, k2]}
    jwks_url: https://issuer.example/.well-known/jwks.json
  admin_auth:
    hmac_secrets: [`+testHMACSecret+`]
    clients:
      - {id: ops, secret_hash: `+testSecretHash+`, sdk_keys: [k1]}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Server.Auth
	if !a.Enabled() || a.TTL.Std() != 30*time.Minute || len(a.Clients) != 1 || a.Clients[0].SDKKeys[1] != "k2" ||
		a.JWKSUpdateInterval.Std() != time.Hour || a.JWKSMinRefreshInterval.Std() != 5*time.Minute {
		t.Errorf("server.auth: %+v", a)
	}
	if cfg.Server.AdminAuth.TTL.Std() != time.Hour || !cfg.Server.AdminAuth.Enabled() {
		t.Errorf("server.admin_auth: %+v", cfg.Server.AdminAuth)
	}
	secrets, err := a.DecodedSecrets()
	if err != nil || len(secrets) != 1 || string(secrets[0]) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("decoded secrets: %q %v", secrets, err)
	}
	if d := Default(); d.Server.Auth.Enabled() || d.Server.AdminAuth.Enabled() {
		t.Error("JWTs are on by default")
	}
}

func TestAuthProblems(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{server: {auth: {hmac_secrets: ["not base64!"]}}}`, "server.auth.hmac_secrets[0]: not base64"},
		{`{server: {auth: {hmac_secrets: [c2hvcnQ=]}}}`, "server.auth.hmac_secrets[0]: 5 bytes; a secret needs at least 32"},
		{`{server: {auth: {ttl: 0s}}}`, "server.auth.ttl: 0s is outside 1s…720h0m0s"},
		{`{server: {auth: {clients: [{id: c, secret_hash: ` + testSecretHash + `, sdk_keys: [k]}]}}}`, "server.auth.clients: set without server.auth.hmac_secrets"},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{secret_hash: ` + testSecretHash + `, sdk_keys: [k]}]}}}`, "server.auth.clients[0].id: must not be empty"},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{id: c, secret_hash: ` + testSecretHash + `, sdk_keys: [k]}, {id: c, secret_hash: ` + testSecretHash + `, sdk_keys: [k]}]}}}`, `server.auth.clients[1].id: "c" is listed twice`},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{id: c, secret_hash: secret, sdk_keys: [k]}]}}}`, "server.auth.clients[0].secret_hash: not base64 (standard"},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{id: c, secret_hash: c2VjcmV0, sdk_keys: [k]}]}}}`, "server.auth.clients[0].secret_hash: not base64 of a bcrypt hash"},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{id: c, secret_hash: ` + testSecretHash + `}]}}}`, "server.auth.clients[0].sdk_keys: must list at least one SDK key"},
		{`{server: {auth: {hmac_secrets: [` + testHMACSecret + `], clients: [{id: c, secret_hash: ` + testSecretHash + `, sdk_keys: ["a b"]}]}}}`, `server.auth.clients[0].sdk_keys[0]: "a b" is not an SDK key`},
		{`{server: {auth: {jwks_url: "ftp://x/keys"}}}`, `server.auth.jwks_url: "ftp://x/keys" is not an http or https URL`},
		{`{server: {admin_auth: {jwks_url: "/keys"}}}`, `server.admin_auth.jwks_url: "/keys" is not an http or https URL`},
		{`{server: {auth: {jwks_update_interval: 10ms}}}`, "server.auth.jwks_update_interval: 10ms is outside 1s…168h0m0s"},
		{`{server: {admin_auth: {jwks_min_refresh_interval: 48h}}}`, "server.admin_auth.jwks_min_refresh_interval: 48h0m0s is outside 1s…24h0m0s"},
	} {
		_, err := Parse([]byte(c.doc), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestAuthEnv(t *testing.T) {
	cfg, err := Parse(nil, envMap(map[string]string{
		"STICKYBUCKET_AUTH_HMAC_SECRETS":                    testHMACSecret + ", " + testHMACSecret,
		"STICKYBUCKET_AUTH_TTL":                             "10m",
		"STICKYBUCKET_AUTH_JWKS_URL":                        "http://127.0.0.1:9/jwks",
		"STICKYBUCKET_AUTH_JWKS_UPDATE_INTERVAL":            "2h",
		"STICKYBUCKET_AUTH_JWKS_MIN_REFRESH_INTERVAL":       "1m",
		"STICKYBUCKET_ADMIN_AUTH_HMAC_SECRETS":              testHMACSecret,
		"STICKYBUCKET_ADMIN_AUTH_TTL":                       "5m",
		"STICKYBUCKET_ADMIN_AUTH_JWKS_URL":                  "https://issuer.example/jwks",
		"STICKYBUCKET_ADMIN_AUTH_JWKS_UPDATE_INTERVAL":      "3h",
		"STICKYBUCKET_ADMIN_AUTH_JWKS_MIN_REFRESH_INTERVAL": "2m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	a, m := cfg.Server.Auth, cfg.Server.AdminAuth
	if len(a.HMACSecrets) != 2 || a.TTL.Std() != 10*time.Minute || a.JWKSURL != "http://127.0.0.1:9/jwks" || a.JWKSUpdateInterval.Std() != 2*time.Hour || a.JWKSMinRefreshInterval.Std() != time.Minute {
		t.Errorf("server.auth from the environment: %+v", a)
	}
	if len(m.HMACSecrets) != 1 || m.TTL.Std() != 5*time.Minute || m.JWKSURL != "https://issuer.example/jwks" || m.JWKSUpdateInterval.Std() != 3*time.Hour || m.JWKSMinRefreshInterval.Std() != 2*time.Minute {
		t.Errorf("server.admin_auth from the environment: %+v", m)
	}
	_, err = Parse(nil, envMap(map[string]string{"STICKYBUCKET_AUTH_HMAC_SECRETS": "c2hvcnQ="}))
	if err == nil || !strings.Contains(err.Error(), "server.auth.hmac_secrets[0]: 5 bytes") || !strings.Contains(err.Error(), "STICKYBUCKET_AUTH_HMAC_SECRETS") {
		t.Errorf("a short secret from the environment: %v", err)
	}
}
