package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Auth adds bearer JWTs to a listener's static tokens, as Agent's api.auth
// and admin.auth: tokens this service issues to Clients at POST
// /oauth/token, signed with the first HMACSecrets, and tokens of an
// external issuer whose keys JWKSURL publishes. On the API a token grants
// the SDK keys of its sdk_keys claim; on the admin listener, a token whose
// admin claim is true.
type Auth struct {
	// HMACSecrets sign (the first) and verify (any) HS256 tokens: base64
	// (standard alphabet, as Agent's) of at least 32 bytes.
	HMACSecrets []string `yaml:"hmac_secrets"`
	// TTL is the issued tokens' lifetime; default 1h.
	TTL Duration `yaml:"ttl"`
	// Clients may ask for tokens; they need HMACSecrets.
	Clients []AuthClient `yaml:"clients"`
	// JWKSURL is an external issuer's key set (RS256, ES256), fetched at
	// start (the start fails if it cannot be) and every
	// JWKSUpdateInterval (default 1h).
	JWKSURL            string   `yaml:"jwks_url"`
	JWKSUpdateInterval Duration `yaml:"jwks_update_interval"`
	// JWKSMinRefreshInterval bounds the fetches tokens with unknown kids
	// cause to one per interval; default 5m.
	JWKSMinRefreshInterval Duration `yaml:"jwks_min_refresh_interval"`
}

// AuthClient is a client allowed to ask for tokens.
type AuthClient struct {
	ID string `yaml:"id"`
	// SecretHash is base64 of the bcrypt hash of the secret's bytes, as
	// Agent's secretHash (`stickybucket admin client-secret` makes a pair).
	SecretHash string `yaml:"secret_hash"`
	// SDKKeys are the SDK keys its tokens grant (API only; ignored on
	// the admin listener, as Agent ignores them).
	SDKKeys []string `yaml:"sdk_keys"`
}

// Enabled reports whether the listener accepts JWTs.
func (a Auth) Enabled() bool { return len(a.HMACSecrets) > 0 || a.JWKSURL != "" }

// DecodedSecrets returns HMACSecrets decoded; Validate has checked them.
func (a Auth) DecodedSecrets() ([][]byte, error) {
	out := make([][]byte, 0, len(a.HMACSecrets))
	for i, s := range a.HMACSecrets {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("hmac_secrets[%d]: not base64: %w", i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (a *Auth) defaults() {
	if a.TTL == 0 {
		a.TTL = Duration(time.Hour)
	}
	if a.JWKSUpdateInterval == 0 {
		a.JWKSUpdateInterval = Duration(time.Hour)
	}
	if a.JWKSMinRefreshInterval == 0 {
		a.JWKSMinRefreshInterval = Duration(5 * time.Minute)
	}
}

// minHMACSecretBytes is server.MinHMACSecretBytes (config does not import
// server).
const minHMACSecretBytes = 32

func (a Auth) validate(key string, admin bool, p *problems) {
	for i, s := range a.HMACSecrets {
		k := fmt.Sprintf("%s.hmac_secrets[%d]", key, i)
		b, err := base64.StdEncoding.DecodeString(s)
		switch {
		case err != nil:
			p.add(k, "not base64 (standard alphabet, padded)")
		case len(b) < minHMACSecretBytes:
			p.add(k, "%d bytes; a secret needs at least %d", len(b), minHMACSecretBytes)
		}
	}
	p.inRange(key+".ttl", a.TTL, time.Second, 30*24*time.Hour)
	if len(a.Clients) > 0 && len(a.HMACSecrets) == 0 {
		p.add(key+".clients", "set without %s.hmac_secrets: the first one signs the tokens", key)
	}
	ids := map[string]bool{}
	for i, c := range a.Clients {
		k := fmt.Sprintf("%s.clients[%d]", key, i)
		switch {
		case c.ID == "":
			p.add(k+".id", "must not be empty")
		case ids[c.ID]:
			p.add(k+".id", "%q is listed twice", c.ID)
		}
		ids[c.ID] = true
		if raw, err := base64.StdEncoding.DecodeString(c.SecretHash); err != nil {
			p.add(k+".secret_hash", "not base64 (standard alphabet, padded)")
		} else if _, err := bcrypt.Cost(raw); err != nil {
			p.add(k+".secret_hash", "not base64 of a bcrypt hash: %v", err)
		}
		if admin {
			// Agent wants sdkKeys on its admin clients too; they are
			// ignored there, as here.
			continue
		}
		if len(c.SDKKeys) == 0 {
			p.add(k+".sdk_keys", "must list at least one SDK key")
		}
		for j, sk := range c.SDKKeys {
			if !sdkKeyPattern.MatchString(sk) {
				p.add(fmt.Sprintf("%s.sdk_keys[%d]", k, j), "%q is not an SDK key (1–128 letters, digits, _ - . :)", sk)
			}
		}
	}
	if a.JWKSURL != "" {
		if u, err := url.Parse(a.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(key+".jwks_url", "%q is not an http or https URL", a.JWKSURL)
		}
	}
	p.inRange(key+".jwks_update_interval", a.JWKSUpdateInterval, time.Second, 7*24*time.Hour)
	p.inRange(key+".jwks_min_refresh_interval", a.JWKSMinRefreshInterval, time.Second, 24*time.Hour)
}
