package ui

import (
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/view"
)

// Figures that do not lie: a fleet quantile that a classic histogram clamped to its top
// bucket bound is a floor ("≥2.00s"), never a reading; a fleet rate over a window the
// source covers only partly reads low and carries a mark.

// fleetQuantile is quantile k (0 p50, 1 p95, 2 p99) of a fleet row as the panes print it.
func fleetQuantile(fo *promsrc.OpFleet, k int) string {
	v := [3]float64{fo.P50, fo.P95, fo.P99}[k]
	if fo.AtTop[k] && fo.TopBound > 0 {
		return "≥" + fmtMS(fo.TopBound)
	}
	return fmtMS(v)
}

// partialMark follows a rate read over a window the source covers only partly.
const partialMark = "*"

// fleetRateCell is a fleet queue rate, marked when its window is only partly covered.
func fleetRateCell(fq *promsrc.QueueFleet, v float64) string {
	if fq != nil && fq.Partial && v >= 0 {
		return fmtRate(v) + partialMark
	}
	return fmtRate(v)
}

// partialNote says, for a title, how much of the rate window the fleet covers when some
// queue's is partial ("" when none is): the shortest coverage, which is the worst reading.
func partialNote(fleet view.FleetInfo) string {
	if fleet.Source == "" || fleet.LeastCovered < 0 {
		return ""
	}
	return " · " + partialMark + string(fleet.Source) + " covers " + fmtBack(fleet.LeastCovered) + " of 5m"
}
