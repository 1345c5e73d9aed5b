package ui

import (
	"math"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Fleet figures (Prometheus or --scrape) are shown beside the live stream's. view.Build has
// joined them into the frame's rows, each with its source tag; the panes print the tag in a
// one-letter "src" column: L for the live stream, P for Prometheus, S for scraped /metrics,
// D for the daemons' aggregate. The "fleet" column always holds the fleet figure, and its
// header carries the source's tag; the status bar gives every source's age.

// lastValues returns the last n values of a fleet series with gaps as 0, for sparklines
// and charts, which draw no gaps.
func lastValues(s promsrc.Series, n int) []float64 {
	v := s.Values
	if len(v) > n {
		v = v[len(v)-n:]
	}
	out := make([]float64, len(v))
	for i, x := range v {
		if !math.IsNaN(x) && x > 0 {
			out[i] = x
		}
	}
	return out
}

// liveSpan is how long the stream has been aggregating: shorter than a chart's span, the
// fleet history draws it instead.
func liveSpan(s *engine.Snapshot) time.Duration {
	if s == nil || s.Started.IsZero() {
		return 0
	}
	return s.At.Sub(s.Started)
}
