package history

import (
	"unsafe"

	"github.com/nsai/ingot-top/internal/alerts"
)

// The rows hold figures as the panes show them: float32 is ample for three significant
// digits, and counts past 4 billion in a window are not a dashboard's case (they saturate).

const nw = 3 // engine.NumWindows, as an array length the rows can use

// statusRow is the stream-wide figures of one second.
type statusRow struct {
	sec                                       int64 // unix second; 0 means empty
	events, invalid, unknown, errors, folded  uint64
	rate                                      float32 // events/s over 10 s
	perSec                                    float32 // events received in the last whole second
	lag                                       [nw][3]float32
	lagCount                                  [nw]uint32
	svcCalls, svcErrs                         [2][nw]uint32 // anvil, forge
	received, reconnects, drops               uint64
	connSince                                 int64
	figuresAt                                 int64 // fleet figures' evaluation time, unix ms; 0 none
	phase                                     uint8
	opsLeft, queuesLeft, probesLeft, grpsLeft uint16 // rows past the caps
	impact                                    impactRow
	activity                                  [2]activityRow // forge.sample.created, anvil.agreement.calculated
}

// activityRow is an engine.ActivityStats.
type activityRow struct {
	count, scored [nw]uint32
	perMin, mean  [nw]float32
	last          float32
	lastAt        int64 // unix ms; 0 none
	seen          bool
}

// activityNames are the activity rows' events, in the engine's order.
var activityNames = [2]string{"forge.sample.created", "anvil.agreement.calculated"}

// impactRow is engine.Impact: the client error rate and who it hits.
type impactRow struct {
	calls, errors, users, noUser, noQueue [nw]uint32
	queues                                [nw]uint16
	queuesLB                              [nw]bool
	known, usersEst                       bool
}

// quant is a latency summary as the Latency pane draws it.
type quant struct {
	count         uint32
	p50, p95, p99 float32
}

// opRow is one operation in one second: live figures per window, and the fleet's.
type opRow struct {
	sec                         int64
	lat                         [nw]quant
	errs                        [nw]uint32
	fleetP50, fleetP95, fleet99 float32
	fleetErr, fleetRate         float32
	fleetTop                    float32 // the top classic bucket bound, ms (OpFleet.TopBound)
	flags                       uint8   // hasLive, hasFleet
	fleetAtTop                  uint8   // bit k: quantile k was clamped at fleetTop
	service                     uint8
}

const (
	hasLive uint8 = 1 << iota
	hasFleet
	hasStats
	etaKnown
	fleetPartial
)

// queueRow is one queue in one second.
type queueRow struct {
	sec          int64
	lpm          [nw]float32
	tps          [nw]quant
	aband        [nw]float32
	methods      [nw][3]uint16 // keyboard, mouse, api shares in 1/10000 (the rest is other)
	perSec       float32       // labels in the last whole second
	pending      float32
	inProgress   float32
	completed    float32
	etaSec       int32
	active       uint32
	folded       uint32
	fleetLPM     float32
	fleetTotal   float32
	fleetPending float32
	fleetP50     float32
	statsAgeSec  int32
	coveredSec   uint16 // QueueFleet.Covered, seconds
	flags        uint8
	// calls and cerrs are the client calls tied to the queue and the failed ones
	calls, cerrs [nw]uint32
}

// probeRow is one probe target in one second.
type probeRow struct {
	sec       int64
	since     int64 // unix ms of the last state change
	checkAt   int64 // unix ms of the check the row reflects
	latencyUS uint32
	uptime    [3]float32
	code      uint16
	state     uint8
}

// groupRow is one error signature in one second.
type groupRow struct {
	sec   int64
	count [nw]uint32
	total uint32
	last  int64 // unix ms of the newest occurrence
}

// countRow is a count since start (invalid reasons, unknown event names).
type countRow struct {
	sec   int64
	count uint64
}

// alertChange is the active alert set from one second on, kept when it differs from the
// one before.
type alertChange struct {
	sec    int64
	active []alerts.Alert
}

// table keeps up to max named rows, each a ring of per-second rows allocated on first use.
// A slot whose name has not been recorded for a whole ring length is free again.
type table[R any] struct {
	names   []string
	lastSec []int64
	index   map[string]int
	rows    [][]R
	seconds int
}

func newTable[R any](maxRows, seconds int) table[R] {
	return table[R]{names: make([]string, maxRows), lastSec: make([]int64, maxRows),
		index: make(map[string]int, maxRows), rows: make([][]R, maxRows), seconds: seconds}
}

// slot returns the slot for name at second sec, taking a free one if needed; -1 when every
// slot holds a name still in the ring.
func (t *table[R]) slot(name string, sec int64) int {
	if i, ok := t.index[name]; ok {
		t.lastSec[i] = sec
		return i
	}
	for i := range t.names {
		if t.names[i] != "" && sec-t.lastSec[i] < int64(t.seconds) {
			continue
		}
		if t.names[i] != "" {
			delete(t.index, t.names[i])
		}
		t.names[i], t.lastSec[i] = name, sec
		t.index[name] = i
		if t.rows[i] == nil {
			t.rows[i] = make([]R, t.seconds)
		} else {
			clear(t.rows[i])
		}
		return i
	}
	return -1
}

// at returns the row of slot i at second sec, and whether the slot has one for that second.
func (t *table[R]) at(i int, sec int64, secOf func(*R) int64) (*R, bool) {
	if i < 0 || t.rows[i] == nil {
		return nil, false
	}
	row := &t.rows[i][int(sec%int64(t.seconds))]
	return row, secOf(row) == sec
}

func (t *table[R]) put(i int, sec int64) *R {
	return &t.rows[i][int(sec%int64(t.seconds))]
}

func (t *table[R]) bytes() int {
	var zero R
	n := len(t.names)*int(unsafe.Sizeof("")+8) + len(t.rows)*int(unsafe.Sizeof([]R(nil)))
	for i, rs := range t.rows {
		n += len(rs)*int(unsafe.Sizeof(zero)) + len(t.names[i])
	}
	// the index map: a name's key and value, and the map's own overhead per entry (an estimate)
	n += len(t.index) * 48
	return n
}

func sat32(v uint64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}
