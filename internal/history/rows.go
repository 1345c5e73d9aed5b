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

// table keeps up to max named rows. Each name has two rings: per-second rows for the newest
// `fine` seconds, and one row per `step` seconds for the rest of the ring's span, so that a
// name's memory is about (fine + (seconds-fine)/step) rows instead of `seconds` rows. A
// per-second row moves to the coarse ring when its slot is reused a `fine` seconds later; the
// first recorded second of each step is the one kept, so a coarse row is never newer than the
// second it stands for. A slot whose name has not been recorded for a whole ring length is
// free again.
type table[R any] struct {
	names   []string
	lastSec []int64
	index   map[string]int
	fine    [][]R
	coarse  [][]R
	seconds int64 // the span: a name unseen for this long frees its slot
	nFine   int64
	step    int64
	secOf   func(*R) int64
}

func newTable[R any](maxRows int, cfg Config, secOf func(*R) int64) table[R] {
	t := table[R]{names: make([]string, maxRows), lastSec: make([]int64, maxRows),
		index: make(map[string]int, maxRows), fine: make([][]R, maxRows), coarse: make([][]R, maxRows),
		seconds: int64(cfg.Seconds), nFine: int64(cfg.FullResolution), step: int64(cfg.CoarseStep), secOf: secOf}
	return t
}

// coarseLen is the coarse ring's length: the seconds past the fine ring, in steps, plus one
// for a step that straddles the boundary.
func (t *table[R]) coarseLen() int64 {
	if t.nFine >= t.seconds {
		return 0
	}
	return (t.seconds-t.nFine+t.step-1)/t.step + 1
}

// slot returns the slot for name at second sec, taking a free one if needed; -1 when every
// slot holds a name still in the ring.
func (t *table[R]) slot(name string, sec int64) int {
	if i, ok := t.index[name]; ok {
		t.lastSec[i] = sec
		return i
	}
	for i := range t.names {
		if t.names[i] != "" && sec-t.lastSec[i] < t.seconds {
			continue
		}
		if t.names[i] != "" {
			delete(t.index, t.names[i])
		}
		t.names[i], t.lastSec[i] = name, sec
		t.index[name] = i
		if t.fine[i] == nil {
			t.fine[i] = make([]R, t.nFine)
			if n := t.coarseLen(); n > 0 {
				t.coarse[i] = make([]R, n)
			}
		} else {
			clear(t.fine[i])
			clear(t.coarse[i])
		}
		return i
	}
	return -1
}

// at returns the row of slot i standing for second sec: the per-second row while sec is in
// the fine ring, else the coarse row of sec's step if it is not newer than sec; ok is false
// when there is none.
func (t *table[R]) at(i int, sec int64) (*R, bool) {
	if i < 0 || t.fine[i] == nil || sec <= 0 {
		return nil, false
	}
	row := &t.fine[i][sec%t.nFine]
	if t.secOf(row) == sec {
		return row, true
	}
	if len(t.coarse[i]) == 0 {
		return nil, false
	}
	c := &t.coarse[i][(sec/t.step)%int64(len(t.coarse[i]))]
	if cs := t.secOf(c); cs > 0 && cs/t.step == sec/t.step && cs <= sec {
		return c, true
	}
	return nil, false
}

// put returns the per-second row of slot i for sec, to be filled by the caller; the row the
// slot held before (fine seconds older) moves to the coarse ring if it is its step's first.
func (t *table[R]) put(i int, sec int64) *R {
	row := &t.fine[i][sec%t.nFine]
	if old := t.secOf(row); old > 0 && old < sec && len(t.coarse[i]) > 0 {
		c := &t.coarse[i][(old/t.step)%int64(len(t.coarse[i]))]
		if cs := t.secOf(c); cs <= 0 || cs/t.step != old/t.step {
			*c = *row
		}
	}
	return row
}

func (t *table[R]) bytes() int {
	var zero R
	n := len(t.names)*int(unsafe.Sizeof("")+8) + 2*len(t.fine)*int(unsafe.Sizeof([]R(nil)))
	for i := range t.fine {
		n += (len(t.fine[i])+len(t.coarse[i]))*int(unsafe.Sizeof(zero)) + len(t.names[i])
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
