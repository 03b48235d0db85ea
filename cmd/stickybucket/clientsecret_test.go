package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/stickybucket/stickybucket/config"
)

// TestClientSecret: the secret printed is 32 bytes, base64; the hash
// printed is base64 of its bcrypt hash at Agent's cost, and the
// configuration takes it.
func TestClientSecret(t *testing.T) {
	var out, errs bytes.Buffer
	random := bytes.NewReader(bytes.Repeat([]byte{7}, 32))
	if code := runClientSecret(nil, random, &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "client_secret: ") || !strings.HasPrefix(lines[1], "secret_hash: ") {
		t.Fatalf("output:\n%s", out.String())
	}
	secret := strings.TrimPrefix(lines[0], "client_secret: ")
	hashB64 := strings.TrimPrefix(lines[1], "secret_hash: ")
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || !bytes.Equal(raw, bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("secret %q: %v", secret, err)
	}
	hash, err := base64.StdEncoding.DecodeString(hashB64)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(hash); cost != 12 || bcrypt.CompareHashAndPassword(hash, raw) != nil {
		t.Errorf("hash %q (cost %d) does not match the secret", hash, cost)
	}
	cfg, err := config.Parse([]byte("server:\n  auth:\n    hmac_secrets: [MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=]\n    clients: [{id: ci, sdk_keys: [k1], secret_hash: "+hashB64+"}]\n"), func(string) (string, bool) { return "", false })
	if err != nil || cfg.Server.Auth.Clients[0].SecretHash != hashB64 {
		t.Errorf("the configuration with the printed hash: %v", err)
	}
	if code := runClientSecret([]string{"extra"}, random, &out, &errs); code != exitUsage {
		t.Errorf("an argument: exit %d", code)
	}
	if code := runClientSecret(nil, strings.NewReader("short"), &out, &errs); code != exitFail {
		t.Errorf("too few random bytes: exit %d", code)
	}
}
