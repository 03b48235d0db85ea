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
//
// At most maxReasons informational steps are kept per decision; the
// rest are counted and reported in one last line (report).
type reasons struct {
	on      bool
	list    []string
	omitted int
}

// maxReasons bounds the informational reasons of one decision. The
// official SDK's reasons repeat an audience's messages for every rule that
// refers to it, so a datafile of many rules sharing an audience of many
// unknown conditions would make one decision's reasons grow with their
// product; real decisions give a few.
const maxReasons = 1000

func (r *reasons) infof(format string, args ...any) {
	if r.on {
		r.add(fmt.Sprintf(format, args...))
	}
}

// add records a formatted informational step.
func (r *reasons) add(msg string) {
	if len(r.list) >= maxReasons {
		r.omitted++
		return
	}
	r.list = append(r.list, msg)
}

func (r *reasons) problem(msg string) {
	r.list = append(r.list, msg)
}

// report returns the reasons of the decision, with a last line counting
// those left out beyond maxReasons.
func (r *reasons) report() []string {
	if r.omitted == 0 {
		return r.list
	}
	return append(r.list, fmt.Sprintf("%d more reasons left out (the limit is %d).", r.omitted, maxReasons))
}
