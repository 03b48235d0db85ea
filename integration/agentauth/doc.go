// Package agentauth holds the proof that stickybucket's bearer JWTs and
// its token endpoint answer as Optimizely Agent's: Agent (built from its
// source by integration/agentbuild, cached) and serve's handlers, in this
// process, share an HMAC secret and a client, and each token, each request
// to /oauth/token, is sent to both. No Cassandra is needed; without Agent's
// source the test is skipped (a failure under CI=true).
package agentauth
