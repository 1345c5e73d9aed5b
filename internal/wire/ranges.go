package wire

import (
	"bytes"
	"strconv"
)

// The valid ranges of measurements (docs/telemetry-wire.md, "Ranges of measurements"). A value
// outside them makes the whole message invalid with ReasonBadValue: a figure built from one
// is a lie on screen (1e300 labelers wrapped to a negative int) and in /metrics (a negative
// gauge), and clamping would hide a broken publisher behind a plausible number.
const (
	// MaxDurationMs is one day: no :telemetry span of these services lasts longer, and a
	// value past it is a unit mistake (µs or ns sent as ms) or garbage.
	MaxDurationMs = 86_400_000
	// MaxCount is 2^53, the largest whole number a float64 (and so JSON in most encoders)
	// holds exactly; past it a count cannot be exact, and int conversions are no longer safe.
	MaxCount = 1 << 53
	// MinScore and MaxScore bound agreement coefficients (Krippendorff's alpha, Cohen's kappa),
	// which are 1 for perfect agreement and reach −1 for systematic disagreement.
	MinScore, MaxScore = -1, 1
)

// countKeys are the measurements that count things or sizes: whole numbers in 0 … MaxCount.
var countKeys = [...]string{
	"pending", "in_progress", "completed", "active_labelers", // anvil.queue.stats_updated
	"payload_bytes", "bytes", "rows", // client calls, artifacts, exports
}

// checkRange returns why value is outside the range of the measurement key, or "" when it is
// in range or the key has no range in the contract (unknown keys need only be finite).
func checkRange(key []byte, value float64) string {
	class := rangeOf(key)
	if class.contains(value) {
		return ""
	}
	switch class {
	case rangeDuration:
		return formatValue(value) + " is outside the duration range 0 … 86400000 ms"
	case rangeScore:
		return formatValue(value) + " is outside the agreement score range −1 … 1"
	default: // rangeCount: rangeNone contains every value
		return formatValue(value) + " is not a whole number in 0 … 2^53"
	}
}

// rangeClass is which row of the ranges table a measurement key falls under. The key's class
// is found once (a shape template keeps it for each of its measurements, shape.go) and the
// value checked against it for every event: one switch, no string compare.
type rangeClass uint8

const (
	rangeNone     rangeClass = iota // no range: finite is enough
	rangeDuration                   // *_ms
	rangeScore                      // score
	rangeCount                      // countKeys
)

func rangeOf(key []byte) rangeClass {
	switch {
	case bytes.HasSuffix(key, []byte("_ms")):
		return rangeDuration
	case string(key) == "score":
		return rangeScore
	case isCountKey(key):
		return rangeCount
	}
	return rangeNone
}

// contains reports whether value is in the class's range. The tests are written as the
// negation of "outside", as checkRange always wrote them (the callers rule out NaN first).
func (c rangeClass) contains(value float64) bool {
	switch c {
	case rangeDuration:
		return !(value < 0 || value > MaxDurationMs)
	case rangeScore:
		return !(value < MinScore || value > MaxScore)
	case rangeCount:
		return !(value < 0 || value > MaxCount || value != float64(int64(value)))
	}
	return true
}

func isCountKey(key []byte) bool {
	for _, k := range countKeys {
		if string(key) == k {
			return true
		}
	}
	return false
}

// formatValue keeps a hostile 1e308 to a dozen characters in the detail text.
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
