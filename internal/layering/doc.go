// Package layering holds no code: its test checks the import rules that
// ARCHITECTURE.md states, so a change that breaks them fails `go test`.
package layering
