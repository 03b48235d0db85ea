package decision

import "fmt"

// reasons collects the human-readable steps of one decision.
//
// Informational steps are recorded only when the caller asked for them
// (IncludeReasons). Call sites check on before calling infof, because
// boxing the arguments of a variadic call allocates even when the callee
// then does nothing with them; the default path must not allocate.
// Problems (a failing store, an unknown flag) are always recorded with
// problem, as the SDKs always report errors.
type reasons struct {
	on   bool
	list []string
}

func (r *reasons) infof(format string, args ...any) {
	if r.on {
		r.list = append(r.list, fmt.Sprintf(format, args...))
	}
}

func (r *reasons) problem(msg string) {
	r.list = append(r.list, msg)
}
