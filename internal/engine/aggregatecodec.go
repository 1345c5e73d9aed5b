package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/nsai/ingot-top/internal/wire"
)

// MaxAggregateBytes bounds an encoded aggregate a reader accepts. Producers keep theirs within
// a 768 KiB budget (NATS's default max payload is 1 MiB; a server may be configured higher);
// the bound leaves room above that and caps the CPU a hostile payload costs a reader.
const MaxAggregateBytes = 2 << 20

// Decoding bounds, checked on the encoded bytes before anything is decoded. encoding/json
// allocates a whole element for every array element, so "[{},{},...]" or "[0,0,...]" under
// a key holding large structs made 8 MB of input allocate about 6 GB before the caps below
// were ever checked. maxAggregateDecodeBytes bounds what decoding may allocate beyond the
// strings (which are bounded by the input); a real aggregate needs a few MB at most.
const (
	maxAggregateDecodeBytes = 16 << 20
	maxAggregateDepth       = 16
	// unknownElemCost is charged for an element whose Go type is unknown (a key that does
	// not name a field exactly: encoding/json also matches case-insensitively): at least
	// the size of any type an aggregate holds (TestUnknownElemCostCoversAggregateTypes).
	unknownElemCost = 1 << 10
	// mapEntryOverhead is added to key and value size for a map entry (buckets, growth).
	mapEntryOverhead = 32
)

// ErrAggregateVersion is wrapped by errors about an aggregate of another layout version.
var ErrAggregateVersion = errors.New("unsupported aggregate version")

// Caps on a decoded aggregate, far above what a producer with AggregateLimits sends, so that a
// hostile payload cannot make the merge do unbounded work.
const (
	maxAggregateQueues    = 20000
	maxAggregateLabelers  = 1000
	maxAggregateOps       = 4096
	maxAggregateErrors    = 10000
	maxAggregateGroups    = 10000
	maxAggregateTraces    = 10000
	maxAggregateSpans     = 1000
	maxAggregateReasons   = 1000
	maxAggregateUnknown   = 10000
	maxAggregateSamples   = 1000
	maxAggregateKVs       = 1000
	maxProducerRunes      = 256
	maxIDRunes            = 256
	maxTextRunes          = 2048
	maxAggregateAllSketch = 200000
)

// Encode returns the aggregate as JSON (sketch bins are base64 inside it).
func (x *Aggregate) Encode() ([]byte, error) {
	data, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", x, err)
	}
	return data, nil
}

// DecodeAggregate parses and validates an encoded aggregate from an untrusted producer: wrong
// versions, malformed series, sketches that do not decode or do not match their counts, and
// oversized payloads are errors; every string is made safe to print.
func DecodeAggregate(data []byte) (*Aggregate, error) {
	if len(data) > MaxAggregateBytes {
		return nil, fmt.Errorf("aggregate of %d bytes exceeds the %d byte limit", len(data), MaxAggregateBytes)
	}
	// Read the version first so that a future layout gets the version error, not a
	// confusing field error.
	var head struct {
		Version  int    `json:"v"`
		Producer string `json:"producer"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decoding aggregate: %w", err)
	}
	if head.Version != AggregateVersion {
		return nil, versionError(head.Version, wire.SafeString(head.Producer, maxProducerRunes))
	}
	if err := checkDecodeCost(data, reflect.TypeFor[Aggregate](), maxAggregateDecodeBytes); err != nil {
		return nil, fmt.Errorf("aggregate from %q refused before decoding: %w", wire.SafeString(head.Producer, maxProducerRunes), err)
	}
	x := new(Aggregate)
	if err := json.Unmarshal(data, x); err != nil {
		return nil, fmt.Errorf("decoding aggregate from %q: %w", wire.SafeString(head.Producer, maxProducerRunes), err)
	}
	x.sanitize()
	if _, err := parseAggregate(x); err != nil {
		return nil, err
	}
	return x, nil
}

// CheckDecodeCost returns an error when decoding data, valid JSON (check with json.Valid
// first), into a T with encoding/json would nest deeper than 16 levels or allocate more than
// limit bytes beyond its strings. Readers of other untrusted JSON off the network use it
// before json.Unmarshal, as DecodeAggregate does; see checkDecodeCost.
func CheckDecodeCost[T any](data []byte, limit int64) error {
	return checkDecodeCost(data, reflect.TypeFor[T](), limit)
}

// checkDecodeCost walks the JSON in data (already known to be valid JSON) along the Go type
// t without decoding it, and returns an error when decoding would nest deeper than
// maxAggregateDepth or allocate more than limit: every element of a slice costs its element's
// size, every map entry its key, value and overhead, anything under a key that names no
// field exactly unknownElemCost. Strings and numbers cost nothing here (their bytes are
// bounded by the input). The walk allocates nothing and is linear in len(data).
func checkDecodeCost(data []byte, t reflect.Type, limit int64) error {
	c := costScanner{data: data, limit: limit}
	if err := c.value(t, 0); err != nil {
		return err
	}
	return nil
}

type costScanner struct {
	data  []byte
	i     int
	cost  int64
	limit int64
}

var errCostTruncated = errors.New("truncated JSON")

func (c *costScanner) skipSpace() {
	for c.i < len(c.data) {
		switch c.data[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *costScanner) charge(n int64) error {
	c.cost += n
	if c.cost > c.limit {
		size := fmt.Sprintf("%d KiB", c.limit>>10)
		if c.limit >= 1<<20 {
			size = fmt.Sprintf("%d MiB", c.limit>>20)
		}
		return fmt.Errorf("decoding would allocate more than %s (arrays or maps far larger than a real message holds)", size)
	}
	return nil
}

// value scans one JSON value that decodes into t; t is nil when the Go type is unknown.
func (c *costScanner) value(t reflect.Type, depth int) error {
	for t != nil && t.Kind() == reflect.Pointer {
		if err := c.charge(int64(t.Elem().Size())); err != nil {
			return err
		}
		t = t.Elem()
	}
	c.skipSpace()
	if c.i >= len(c.data) {
		return errCostTruncated
	}
	switch c.data[c.i] {
	case '{', '[':
		if depth >= maxAggregateDepth {
			return fmt.Errorf("JSON nested deeper than %d levels", maxAggregateDepth)
		}
		if c.data[c.i] == '{' {
			return c.object(t, depth+1)
		}
		return c.array(t, depth+1)
	case '"':
		return c.str()
	default: // number, true, false, null
		for c.i < len(c.data) {
			switch c.data[c.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return nil
			}
			c.i++
		}
		return nil
	}
}

// str skips a string; c.data[c.i] is its opening quote. It returns the raw bytes between
// the quotes through key.
func (c *costScanner) str() error {
	_, err := c.key()
	return err
}

func (c *costScanner) key() ([]byte, error) {
	start := c.i + 1
	for c.i = start; c.i < len(c.data); c.i++ {
		switch c.data[c.i] {
		case '\\':
			c.i++
		case '"':
			raw := c.data[start:c.i]
			c.i++
			return raw, nil
		}
	}
	return nil, errCostTruncated
}

func (c *costScanner) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	var cost int64
	switch {
	case t == nil:
		cost = unknownElemCost
	case t.Kind() == reflect.Slice:
		elem, cost = t.Elem(), int64(t.Elem().Size())
	case t.Kind() == reflect.Array:
		elem = t.Elem() // held inline; elements past its length are skipped
	default:
		cost = unknownElemCost // a type error for encoding/json; be conservative
	}
	c.i++ // '['
	c.skipSpace()
	if c.i < len(c.data) && c.data[c.i] == ']' {
		c.i++
		return nil
	}
	for {
		if err := c.charge(cost); err != nil {
			return err
		}
		if err := c.value(elem, depth); err != nil {
			return err
		}
		c.skipSpace()
		if c.i >= len(c.data) {
			return errCostTruncated
		}
		c.i++
		if c.data[c.i-1] == ']' {
			return nil
		}
	}
}

func (c *costScanner) object(t reflect.Type, depth int) error {
	var entryCost int64
	isMap := t != nil && t.Kind() == reflect.Map
	if isMap {
		entryCost = int64(t.Key().Size()+t.Elem().Size()) + mapEntryOverhead
	} else if t == nil || t.Kind() != reflect.Struct {
		entryCost = unknownElemCost
	}
	c.i++ // '{'
	c.skipSpace()
	if c.i < len(c.data) && c.data[c.i] == '}' {
		c.i++
		return nil
	}
	for {
		c.skipSpace()
		if c.i >= len(c.data) || c.data[c.i] != '"' {
			return errCostTruncated
		}
		name, err := c.key()
		if err != nil {
			return err
		}
		var ft reflect.Type
		switch {
		case isMap:
			ft = t.Elem()
		case t != nil && t.Kind() == reflect.Struct:
			ft = fieldByJSONName(t, name)
		}
		if err := c.charge(entryCost); err != nil {
			return err
		}
		c.skipSpace()
		if c.i >= len(c.data) || c.data[c.i] != ':' {
			return errCostTruncated
		}
		c.i++
		if err := c.value(ft, depth); err != nil {
			return err
		}
		c.skipSpace()
		if c.i >= len(c.data) {
			return errCostTruncated
		}
		c.i++
		if c.data[c.i-1] == '}' {
			return nil
		}
	}
}

// fieldByJSONName is the type of t's field that encoding/json fills from key name when the
// key matches exactly (its tag name, or its Go name without a tag); nil otherwise, which
// the scan treats as unknown.
func fieldByJSONName(t reflect.Type, name []byte) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == string(name) {
			return f.Type
		}
	}
	return nil
}

func versionError(v int, producer string) error {
	return fmt.Errorf("aggregate from producer %q has layout version %d, this ingot-top reads version %d (run the same ingot-top release on daemons and viewers): %w",
		producer, v, AggregateVersion, ErrAggregateVersion)
}

func safe(s *string, n int) { *s = wire.SafeString(*s, n) }

func safeKVs(kvs []KVPair) {
	for i := range kvs {
		safe(&kvs[i].Key, maxIDRunes)
		safe(&kvs[i].Value, maxTextRunes)
	}
}

// sanitize makes every string of a decoded aggregate safe to print, as the engine makes the
// strings of a Snapshot: a hostile producer must not be able to drive the viewer's terminal.
func (x *Aggregate) sanitize() {
	x.sanitizeProbes()
	safe(&x.Producer, maxProducerRunes)
	safe(&x.Host, maxProducerRunes)
	for i := range x.Queues {
		q := &x.Queues[i]
		safe(&q.ID, maxIDRunes)
		for k := range q.Labelers {
			safe(&q.Labelers[k].ID, maxIDRunes)
		}
	}
	for i := range x.Ops {
		safe(&x.Ops[i].Name, maxIDRunes)
		safe(&x.Ops[i].Service, maxIDRunes)
	}
	for i := range x.Services {
		safe(&x.Services[i].Service, maxIDRunes)
	}
	for i := range x.Invalid {
		safe(&x.Invalid[i].Reason, maxIDRunes)
	}
	for i := range x.InvalidSamples {
		b := &x.InvalidSamples[i]
		safe(&b.Subject, maxIDRunes)
		safe(&b.Reason, maxIDRunes)
		safe(&b.Detail, maxTextRunes)
		safe(&b.Excerpt, maxTextRunes)
	}
	for i := range x.Unknown {
		safe(&x.Unknown[i].Name, maxIDRunes)
	}
	safeEntry := func(e *ErrorEntry) {
		for _, p := range []*string{&e.Event, &e.Operation, &e.Service, &e.TraceID, &e.SpanID, &e.Node, &e.Queue, &e.QueueVia} {
			safe(p, maxIDRunes)
		}
		safe(&e.Reason, maxTextRunes)
		safeKVs(e.IDs)
		safeKVs(e.Metadata)
	}
	for i := range x.Errors {
		safeEntry(&x.Errors[i])
	}
	for i := range x.ErrorGroups {
		g := &x.ErrorGroups[i]
		for _, p := range []*string{&g.Service, &g.Event, &g.Operation} {
			safe(p, maxIDRunes)
		}
		safe(&g.Signature, maxTextRunes)
		safeEntry(&g.Latest)
	}
	if len(x.Lineage) > 0 {
		clean := make(map[string][]TraceSpan, len(x.Lineage))
		for id, spans := range x.Lineage {
			for k := range spans {
				sp := &spans[k]
				for _, p := range []*string{&sp.Event, &sp.Service, &sp.SpanID, &sp.ParentSpanID, &sp.Result} {
					safe(p, maxIDRunes)
				}
				safe(&sp.Reason, maxTextRunes)
			}
			clean[wire.SafeString(id, maxIDRunes)] = spans
		}
		x.Lineage = clean
	}
}

// parsedAggregate is a validated aggregate with its sketches decoded.
type parsedAggregate struct {
	x   *Aggregate
	lag [NumWindows]*ddsketch.DDSketch
	tps [][NumWindows]*ddsketch.DDSketch // per queue
	ops [][NumWindows]*ddsketch.DDSketch // per op
}

// parseAggregate validates x's structure and decodes its sketches. It never panics on a
// hostile aggregate and does work bounded by the caps above.
func parseAggregate(x *Aggregate) (*parsedAggregate, error) {
	if x == nil {
		return nil, errors.New("nil aggregate")
	}
	who := x.Producer
	if x.Version != AggregateVersion {
		return nil, versionError(x.Version, who)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid aggregate from producer %q: %s", who, fmt.Sprintf(format, args...))
	}
	if x.Producer == "" {
		return nil, bad("empty producer id")
	}
	if x.SketchAccuracy != sketchAccuracy {
		return nil, bad("sketch accuracy %v, want %v", x.SketchAccuracy, sketchAccuracy)
	}
	if x.At.Year() < 2000 || x.At.Year() > 2200 || x.Started.Year() < 2000 {
		return nil, bad("time %s or start %s out of range", x.At, x.Started)
	}
	if x.At.Before(x.Started) {
		return nil, bad("time %s before start %s", x.At, x.Started)
	}
	if x.Second != sliceIndex(x.At, secondWidth) || x.Fine != sliceIndex(x.At, fineWidth) {
		return nil, bad("slice indexes %d/%d do not match time %s", x.Second, x.Fine, x.At)
	}
	if len(x.EventsPerSec) != secondSlots {
		return nil, bad("%d per-second event counts, want %d", len(x.EventsPerSec), secondSlots)
	}
	switch {
	case len(x.Queues) > maxAggregateQueues:
		return nil, bad("%d queues, at most %d", len(x.Queues), maxAggregateQueues)
	case len(x.Ops) > maxAggregateOps:
		return nil, bad("%d operations, at most %d", len(x.Ops), maxAggregateOps)
	case len(x.Services) > maxAggregateOps:
		return nil, bad("%d services, at most %d", len(x.Services), maxAggregateOps)
	case len(x.Errors) > maxAggregateErrors:
		return nil, bad("%d errors, at most %d", len(x.Errors), maxAggregateErrors)
	case len(x.ErrorGroups) > maxAggregateGroups:
		return nil, bad("%d error groups, at most %d", len(x.ErrorGroups), maxAggregateGroups)
	case len(x.Lineage) > maxAggregateTraces:
		return nil, bad("%d traces, at most %d", len(x.Lineage), maxAggregateTraces)
	case len(x.Invalid) > maxAggregateReasons:
		return nil, bad("%d invalid reasons, at most %d", len(x.Invalid), maxAggregateReasons)
	case len(x.InvalidSamples) > maxAggregateSamples:
		return nil, bad("%d invalid samples, at most %d", len(x.InvalidSamples), maxAggregateSamples)
	case len(x.Unknown) > maxAggregateUnknown:
		return nil, bad("%d unknown names, at most %d", len(x.Unknown), maxAggregateUnknown)
	}
	if err := x.checkProbes(bad); err != nil {
		return nil, err
	}
	if err := x.checkImpact(bad); err != nil {
		return nil, err
	}
	for id, spans := range x.Lineage {
		if len(spans) > maxAggregateSpans {
			return nil, bad("trace %q has %d spans, at most %d", id, len(spans), maxAggregateSpans)
		}
	}
	for i := range x.Errors {
		if len(x.Errors[i].IDs)+len(x.Errors[i].Metadata) > maxAggregateKVs {
			return nil, bad("error entry %d has too much metadata", i)
		}
	}
	for i := range x.ErrorGroups {
		if l := &x.ErrorGroups[i].Latest; len(l.IDs)+len(l.Metadata) > maxAggregateKVs {
			return nil, bad("error group %d has too much metadata", i)
		}
	}
	p := &parsedAggregate{x: x}
	sketches := 0
	decode := func(what string, w Window, es *AggregateSketch) (*ddsketch.DDSketch, error) {
		sketches++
		if sketches > maxAggregateAllSketch {
			return nil, bad("more than %d sketches", maxAggregateAllSketch)
		}
		sk, err := decodeSketch(es)
		if err != nil {
			return nil, bad("%s %s sketch: %v", what, w, err)
		}
		return sk, nil
	}
	var err error
	for w := Window(0); w < NumWindows; w++ {
		if p.lag[w], err = decode("lag", w, &x.Lag[w]); err != nil {
			return nil, err
		}
	}
	p.tps = make([][NumWindows]*ddsketch.DDSketch, len(x.Queues))
	for i := range x.Queues {
		q := &x.Queues[i]
		if q.ID == "" {
			return nil, bad("queue %d has no id", i)
		}
		if len(q.PerSecond) != secondSlots || len(q.Labels10s) != fineSlots || len(q.P50History) != fineSlots {
			return nil, bad("queue %q series have %d/%d/%d values, want %d/%d/%d", q.ID,
				len(q.PerSecond), len(q.Labels10s), len(q.P50History), secondSlots, fineSlots, fineSlots)
		}
		if len(q.Labelers) > maxAggregateLabelers {
			return nil, bad("queue %q has %d labelers, at most %d", q.ID, len(q.Labelers), maxAggregateLabelers)
		}
		if q.Folded < 0 || q.SeenLabelers < 0 {
			return nil, bad("queue %q has negative counts", q.ID)
		}
		for k := range q.P50History {
			if v := float64(q.P50History[k]); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, bad("queue %q p50 history value %v", q.ID, v)
			}
		}
		for w := Window(0); w < NumWindows; w++ {
			if p.tps[i][w], err = decode("queue "+q.ID+" time-per-sample", w, &q.Windows[w].TPS); err != nil {
				return nil, err
			}
		}
	}
	p.ops = make([][NumWindows]*ddsketch.DDSketch, len(x.Ops))
	for i := range x.Ops {
		op := &x.Ops[i]
		if op.Name == "" {
			return nil, bad("operation %d has no name", i)
		}
		for w := Window(0); w < NumWindows; w++ {
			if p.ops[i][w], err = decode("operation "+op.Name, w, &op.Latency[w]); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// sketchIndexRange is the bin index range a value in [MinIndexableValue, maxValueMS] maps
// to; an engine never writes a bin outside it.
func sketchIndexRange() (lo, hi int) {
	m := newSketchKit().mapping
	return m.Index(m.MinIndexableValue()), m.Index(maxValueMS)
}

// decodeSketch decodes es into a sparse-store sketch (memory bounded by the payload, whatever
// the indexes) and checks that it is what an engine could have sent: bins within the
// engine's index range, whole non-negative counts adding up to N, no negative values.
func decodeSketch(es *AggregateSketch) (*ddsketch.DDSketch, error) {
	if math.IsNaN(es.Max) || math.IsInf(es.Max, 0) || es.Max < 0 || es.Max > maxValueMS {
		return nil, fmt.Errorf("max %v out of range", es.Max)
	}
	if es.N == 0 {
		if len(es.Bins) != 0 {
			return nil, errors.New("bins without a count")
		}
		return nil, nil
	}
	if len(es.Bins) == 0 {
		return nil, fmt.Errorf("count %d without bins", es.N)
	}
	kit := newSketchKit()
	sk, err := ddsketch.DecodeDDSketch(es.Bins, func() store.Store { return store.NewSparseStore() }, kit.mapping)
	if err != nil {
		return nil, fmt.Errorf("decoding bins: %w", err)
	}
	if !sk.GetNegativeValueStore().IsEmpty() {
		return nil, errors.New("negative values")
	}
	lo, hi := sketchIndexRange()
	total := sk.GetZeroCount()
	if !wholeCount(total) {
		return nil, fmt.Errorf("zero count %v", total)
	}
	var bad error
	sk.GetPositiveValueStore().ForEach(func(index int, count float64) bool {
		if index < lo || index > hi {
			bad = fmt.Errorf("bin index %d outside %d..%d", index, lo, hi)
			return true
		}
		if !wholeCount(count) {
			bad = fmt.Errorf("bin count %v", count)
			return true
		}
		total += count
		return false
	})
	if bad != nil {
		return nil, bad
	}
	if total != float64(es.N) {
		return nil, fmt.Errorf("bins hold %v values, count says %d", total, es.N)
	}
	return sk, nil
}

func wholeCount(c float64) bool {
	return c >= 0 && c <= 1<<53 && c == math.Trunc(c)
}
