// Package agentauth holds the proof that stickybucket's bearer JWTs and
// its token endpoint answer as Optimizely Agent's: Agent (the binary the
// integration tests build from source and cache) and serve's handlers, in
// this process, share an HMAC secret and a client, and each token, each
// request to /oauth/token, is sent to both. No Cassandra is needed; without
// Agent's cached binary the test is skipped (a failure under CI=true).
package agentauth
