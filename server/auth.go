package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Tokens is a set of bearer tokens, kept only as SHA-256 hashes so a heap
// dump or a debug endpoint never shows one. The zero value holds none and
// lets every request through: whether that is acceptable is the caller's
// decision (Server refuses to listen beyond loopback without tokens unless
// told to).
type Tokens struct {
	hashes [][sha256.Size]byte
}

// MinTokenBytes is the shortest token accepted: shorter ones can be
// guessed.
const MinTokenBytes = 16

// NewTokens hashes each token. A token given as "sha256:<64 hex digits>"
// is taken as already hashed, so configuration files need not hold the
// secret itself.
func NewTokens(tokens ...string) (Tokens, error) {
	var t Tokens
	for i, tok := range tokens {
		if hexSum, ok := strings.CutPrefix(tok, "sha256:"); ok {
			raw, err := hex.DecodeString(hexSum)
			if err != nil || len(raw) != sha256.Size {
				return Tokens{}, fmt.Errorf("token %d: sha256: wants %d hex digits", i, 2*sha256.Size)
			}
			t.hashes = append(t.hashes, [sha256.Size]byte(raw))
			continue
		}
		if len(tok) < MinTokenBytes {
			return Tokens{}, fmt.Errorf("token %d: %d bytes, at least %d are required", i, len(tok), MinTokenBytes)
		}
		t.hashes = append(t.hashes, sha256.Sum256([]byte(tok)))
	}
	return t, nil
}

// Empty reports whether no token is configured.
func (t Tokens) Empty() bool { return len(t.hashes) == 0 }

// allows reports whether the Authorization header carries one of the
// tokens. Every configured hash is compared, in constant time, whatever
// matches first.
func (t Tokens) allows(authorization string) bool {
	// The scheme is case-insensitive (RFC 7235): "bearer" is "Bearer".
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for i := range t.hashes {
		match |= subtle.ConstantTimeCompare(sum[:], t.hashes[i][:])
	}
	return match == 1
}

var errUnauthorized = errors.New("missing or invalid bearer token")

// scope is what a JWT must grant beyond a valid signature and dates.
type scope int

const (
	// scopeSDKKey: the token's sdk_keys claim holds the request's
	// X-Optimizely-SDK-Key (Agent's API rule).
	scopeSDKKey scope = iota
	// scopeAdmin: the token's admin claim is true (Agent's admin rule).
	scopeAdmin
	// scopeAPI: the token has an sdk_keys claim, whatever keys it names
	// (/v1/batch, whose operations are checked each with its own key).
	scopeAPI
)

// The texts Agent answers a token without the scope with.
const (
	msgNoSDKKeys    = "invalid claims: sdk_keys not found, or have the wrong type"
	msgSDKKeyScope  = "SDK key given in X-Optimizely-Sdk-Key header was not found in the SDK keys in this token's claims"
	msgNotAdminFlag = "admin flag not set"
)

// requireAuth answers 401 unless the request's bearer token is one of
// tokens (which grant everything), or a JWT verifier accepts that grants
// sc. With neither tokens nor verifier it lets everything through. Every
// refusal is a 401, as Agent answers (a token outside its scope included).
func requireAuth(tokens Tokens, verifier *JWTVerifier, sc scope, next http.Handler) http.Handler {
	if tokens.Empty() && verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authorization := r.Header.Get("Authorization")
		// A JWT verified before is answered first: hashing it to compare
		// with the static tokens would cost more than finding it.
		if verifier != nil {
			if t := verifier.remembered(bearerToken(authorization)); t != nil {
				if msg := t.grants(r, sc); msg != "" {
					refuse(w, msg)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
		}
		if !tokens.Empty() && tokens.allows(authorization) {
			next.ServeHTTP(w, r)
			return
		}
		msg := errUnauthorized.Error()
		if verifier != nil {
			msg = verifier.authorize(r, authorization, sc)
			if msg == "" {
				next.ServeHTTP(w, r)
				return
			}
		}
		refuse(w, msg)
	})
}

func refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="stickybucket"`)
	writeErrorStatus(w, http.StatusUnauthorized, msg)
}

// bearerToken returns the token of a Bearer authorization ("" if it is
// none); the scheme is case-insensitive (RFC 7235).
func bearerToken(authorization string) string {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return tok
}

// authorize checks the JWT in authorization against sc and returns why it
// is refused, "" if it is not.
func (v *JWTVerifier) authorize(r *http.Request, authorization string, sc scope) string {
	tok := bearerToken(authorization)
	if tok == "" {
		return "unauthorized: no bearer token in the Authorization header"
	}
	t, err := v.check(r.Context(), tok)
	if err != nil {
		return "unauthorized: " + err.Error()
	}
	return t.grants(r, sc)
}

// sdkKeyCanonical is how net/http keys the SDK key header: indexing with
// it spares Header.Get's canonicalizing copy.
var sdkKeyCanonical = http.CanonicalHeaderKey(sdkKeyHeader)

// grants returns why t does not grant sc for r, "" if it does.
func (t *verifiedToken) grants(r *http.Request, sc scope) string {
	switch sc {
	case scopeAdmin:
		if !t.admin {
			return msgNotAdminFlag
		}
	case scopeAPI:
		if !t.hasSDKKeys {
			return msgNoSDKKeys
		}
	default:
		if !t.hasSDKKeys {
			return msgNoSDKKeys
		}
		want := r.Header[sdkKeyCanonical]
		if len(want) == 0 || want[0] == "" || !slices.Contains(t.sdkKeys, want[0]) {
			return msgSDKKeyScope
		}
	}
	return ""
}
