package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nsai/ingot-top/internal/report"
)

// streamVerdict is the exit status of a printed snapshot, live or replayed: ExitProblem
// naming every problem when the client error rate over the window is above maxErrorRate,
// more than maxInvalid messages were invalid (-1: never), messages were left unprocessed
// or dropped as a slow consumer, or the caller found other problems (extra); nil otherwise.
func streamVerdict(in report.Input, maxErrorRate float64, maxInvalid int64, extra ...string) error {
	var problems []string
	var calls, errs uint64
	for _, sv := range in.Stream.Services {
		calls += sv.Calls[in.Window]
		errs += sv.Errors[in.Window]
	}
	if calls > 0 {
		if rate := float64(errs) / float64(calls); rate > maxErrorRate {
			problems = append(problems, fmt.Sprintf("client error rate %.1f%% > %.1f%%", rate*100, maxErrorRate*100))
		}
	}
	if maxInvalid >= 0 && int64(in.Stream.Totals.Invalid) > maxInvalid {
		problems = append(problems, fmt.Sprintf("%d invalid messages > %d", in.Stream.Totals.Invalid, maxInvalid))
	}
	if in.Conn.AbandonedAtShutdown > 0 {
		problems = append(problems, fmt.Sprintf("%d messages left unprocessed at the end", in.Conn.AbandonedAtShutdown))
	}
	if in.Conn.SlowConsumerDrops > 0 {
		problems = append(problems, fmt.Sprintf("%d messages dropped as a slow consumer", in.Conn.SlowConsumerDrops))
	}
	problems = append(problems, extra...)
	if len(problems) == 0 {
		return nil
	}
	return &ExitError{Code: ExitProblem, Err: errors.New("problems found: " + strings.Join(problems, "; "))}
}
