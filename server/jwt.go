package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
)

// The algorithms a JWT may be signed with: HS256 for the tokens this
// service issues (and Agent issues), RS256 and ES256 for an external
// issuer's keys published as a JWKS. Anything else, "none" included, is
// refused before a key is looked at.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
)

// MinHMACSecretBytes is the shortest HMAC secret accepted: HS256 wants a
// key of at least its hash's size (RFC 7518, 3.2).
const MinHMACSecretBytes = 32

// JWTOptions configures NewJWTVerifier. At least one of HMACSecrets and
// JWKSURL is required.
type JWTOptions struct {
	// HMACSecrets verify HS256 tokens: a token signed with any of them is
	// accepted, so a new secret can be put first (it signs) while tokens
	// signed with the old one are still in use. Each has at least
	// MinHMACSecretBytes.
	HMACSecrets [][]byte
	// JWKSURL is an external issuer's key set (RS256 and ES256 keys,
	// found by the token's kid), fetched at start (failing the start if
	// it cannot be) and every JWKSUpdateInterval.
	JWKSURL string
	// JWKSUpdateInterval is how often the key set is fetched again;
	// default one hour.
	JWKSUpdateInterval time.Duration
	// JWKSMinRefreshInterval bounds the fetches a token with an unknown
	// kid causes: at most one per interval, whatever the number of kids
	// (a flood of random kids costs the issuer one request); a token
	// whose kid is still unknown then is refused at once. Default five
	// minutes.
	JWKSMinRefreshInterval time.Duration
	// HTTPClient fetches the key set; nil uses a client with a
	// ten-second timeout. Answers beyond MaxJWKSBytes are refused.
	HTTPClient *http.Client
	// Log receives failed refreshes; nil means slog.Default().
	Log *slog.Logger
}

// MaxJWKSBytes bounds a key set's document.
const MaxJWKSBytes = 1 << 20

// JWTVerifier checks bearer JWTs: the signature (HS256 with the HMAC
// secrets, RS256 or ES256 with the JWKS key the kid names), exp (required),
// nbf and iat, with no leeway, as Agent does.
//
// A token verified once is remembered (cacheSize tokens of at most
// maxCachedToken bytes, least recently used out first) with what its
// claims say, so the next request with it costs a map lookup and the date
// checks, not a signature: the key is the whole token, signature included,
// so only the very token verified can hit. Every fetch of the key set
// forgets them all, so a key the issuer removed stops working with the
// fetch that removes it.
type JWTVerifier struct {
	parser  *jwt.Parser
	hmac    jwt.VerificationKeySet
	jwks    *jwks
	methods []string
	cancel  context.CancelFunc
	now     func() time.Time
	cache   *lru.Cache[string, *verifiedToken]
	// keySets counts the key set's fetches; a remembered token is good
	// only while it is the count it was verified under.
	keySets *atomic.Uint64
}

const (
	cacheSize      = 4096
	maxCachedToken = 4 << 10
)

// verifiedToken is what a verified token's claims say.
type verifiedToken struct {
	exp, nbf, iat time.Time // zero nbf, iat: absent
	// sdkKeys holds the sdk_keys claim's strings; hasSDKKeys whether the
	// claim is an array.
	sdkKeys    []string
	hasSDKKeys bool
	admin      bool
	keySet     uint64
}

// current reports whether t may still be used at now, as the parser
// decides: before exp, not before nbf or iat.
func (t *verifiedToken) current(now time.Time) bool {
	return now.Before(t.exp) && !now.Before(t.nbf) && !now.Before(t.iat)
}

// JWKSStats counts what a verifier's key set fetches came to.
type JWKSStats struct {
	// Fetches got an answer from the JWKS URL (each forgets the tokens
	// remembered); Failures are refreshes, on the interval or for an
	// unknown kid, that failed: no answer, an error status or a set that
	// cannot be used. The keys fetched last are kept then.
	Fetches, Failures uint64
}

// JWKSStats returns the counts of the key set's fetches since the
// verifier was built, the first one included; false without a JWKS URL
// (or for a nil verifier).
func (v *JWTVerifier) JWKSStats() (JWKSStats, bool) {
	if v == nil || v.jwks == nil {
		return JWKSStats{}, false
	}
	return JWKSStats{Fetches: v.keySets.Load(), Failures: v.jwks.failures.Load()}, true
}

// NewJWTVerifier builds a verifier; with a JWKS URL it fetches the key set
// once before returning, and refreshes it in the background until Close.
func NewJWTVerifier(ctx context.Context, opts JWTOptions) (*JWTVerifier, error) {
	if len(opts.HMACSecrets) == 0 && opts.JWKSURL == "" {
		return nil, errors.New("server: JWT verifier: neither HMAC secrets nor a JWKS URL is set")
	}
	cache, err := lru.New[string, *verifiedToken](cacheSize)
	if err != nil {
		return nil, fmt.Errorf("server: JWT verifier: %w", err)
	}
	v := &JWTVerifier{cancel: func() {}, now: time.Now, cache: cache, keySets: new(atomic.Uint64)}
	for i, s := range opts.HMACSecrets {
		if len(s) < MinHMACSecretBytes {
			return nil, fmt.Errorf("server: JWT verifier: HMAC secret %d has %d bytes, at least %d are required", i, len(s), MinHMACSecretBytes)
		}
		v.hmac.Keys = append(v.hmac.Keys, s)
	}
	if len(v.hmac.Keys) > 0 {
		v.methods = append(v.methods, algHS256)
	}
	if opts.JWKSURL != "" {
		jwks, err := newJWKS(ctx, opts, v.keySets, func() time.Time { return v.now() })
		if err != nil {
			return nil, err
		}
		v.jwks, v.cancel = jwks, jwks.cancel
		v.methods = append(v.methods, algRS256, algES256)
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }))
	return v, nil
}

// Close stops the key set's refreshes. It is idempotent.
func (v *JWTVerifier) Close() {
	if v != nil {
		v.cancel()
	}
}

// tokenClaims are the claims Agent's tokens carry; sdk_keys and admin are
// checked by type as Agent does (an array of strings, a boolean).
type tokenClaims struct {
	SDKKeys any `json:"sdk_keys"`
	Admin   any `json:"admin"`
	jwt.RegisteredClaims
}

// remembered returns what token's claims say if it was verified before
// and is still current; nil otherwise.
func (v *JWTVerifier) remembered(token string) *verifiedToken {
	if token == "" {
		return nil
	}
	if t, ok := v.cache.Get(token); ok && t.keySet == v.keySets.Load() && t.current(v.now()) {
		return t
	}
	return nil
}

// check returns what token's claims say, from the tokens remembered if it
// is there and still current, else verified (and then remembered).
func (v *JWTVerifier) check(ctx context.Context, token string) (*verifiedToken, error) {
	if t := v.remembered(token); t != nil {
		return t, nil
	}
	// Read before verifying: a fetch that lands meanwhile makes the
	// entry stale at once.
	keySet := v.keySets.Load()
	claims, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	t := &verifiedToken{exp: claims.ExpiresAt.Time, keySet: keySet}
	if claims.NotBefore != nil {
		t.nbf = claims.NotBefore.Time
	}
	if claims.IssuedAt != nil {
		t.iat = claims.IssuedAt.Time
	}
	if keys, ok := claims.SDKKeys.([]any); ok {
		t.hasSDKKeys = true
		for _, k := range keys {
			// Agent skips an item that is not a string.
			if s, ok := k.(string); ok {
				t.sdkKeys = append(t.sdkKeys, s)
			}
		}
	}
	t.admin, _ = claims.Admin.(bool)
	if len(token) <= maxCachedToken {
		v.cache.Add(token, t)
	}
	return t, nil
}

// verify parses and checks a token and returns its claims.
func (v *JWTVerifier) verify(ctx context.Context, token string) (*tokenClaims, error) {
	var claims tokenClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// The parser has refused any other algorithm; each family has its
		// own keys, so an RSA key never reaches HMAC as a secret.
		switch t.Method.Alg() {
		case algHS256:
			return v.hmac, nil
		default:
			if v.jwks == nil {
				return nil, errors.New("no JWKS is configured")
			}
			kid, ok := t.Header["kid"].(string)
			if !ok {
				return nil, errors.New("the token's header has no string kid")
			}
			if !v.jwks.has(kid) {
				return nil, fmt.Errorf("kid %q is not in the JWKS", cut(kid, 64))
			}
			return v.jwks.keyfunc.KeyfuncCtx(ctx)(t)
		}
	})
	if err != nil {
		return nil, err
	}
	return &claims, nil
}
