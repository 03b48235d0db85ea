package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"

	"golang.org/x/crypto/bcrypt"
)

const clientSecretUsage = `Usage: stickybucket client-secret

Makes a client's credentials for POST /oauth/token, as Agent's
generate_secret does: a secret of 32 random bytes, base64, to give the
client (it sends it as client_secret), and base64 of its bcrypt hash (cost
12) for server.auth.clients[].secret_hash (or server.admin_auth's). Only
the hash goes into the configuration.
`

// clientSecretCost is Agent's bcrypt work factor for client secrets.
const clientSecretCost = 12

// runClientSecret is `stickybucket client-secret`.
func runClientSecret(args []string, random io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client-secret", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clientSecretUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(random, secret); err != nil {
		fmt.Fprintf(stderr, "stickybucket client-secret: read random bytes: %v\n", err)
		return exitFail
	}
	hash, err := bcrypt.GenerateFromPassword(secret, clientSecretCost)
	if err != nil {
		fmt.Fprintf(stderr, "stickybucket client-secret: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "client_secret: %s\nsecret_hash: %s\n", base64.StdEncoding.EncodeToString(secret), base64.StdEncoding.EncodeToString(hash))
	return exitOK
}
