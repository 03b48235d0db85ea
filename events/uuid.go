package events

import (
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
)

// uuids makes random (version 4) UUIDs, as the SDKs give each event, from
// a ChaCha8 stream seeded by crypto/rand: one system call per batch, not
// per event. Not safe for concurrent use: one per batch.
type uuids struct{ src *mrand.ChaCha8 }

func newUUIDs() uuids {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand.Read panics rather than return an error)
	return uuids{src: mrand.NewChaCha8(seed)}
}

// next returns a UUID's 36 characters (an array, so that making one
// allocates nothing).
func (g uuids) next() [36]byte {
	var u [16]byte
	_, _ = g.src.Read(u[:]) // never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return s
}
