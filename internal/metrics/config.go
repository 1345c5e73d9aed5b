package metrics

import (
	"fmt"
	"math"
	"time"
)

// Defaults of Config; a zero field in Config means "use the default".
const (
	DefaultMaxSeriesPerMetric        = 1000
	DefaultMaxQueueIDs               = 500
	DefaultMaxEventNames             = 100
	DefaultNativeHistogramMaxBuckets = 100
	DefaultExemplarInterval          = time.Second
)

// OverflowValue is the label value that label sets past a cap fold into.
const OverflowValue = "other"

// Config tunes the exporter. The zero Config is valid and means every default.
type Config struct {
	// SampleRate in (0, 1] is the share of metric events that are recorded; 0 means 1.
	// Errors and state/audit events are never sampled out; counters of sampled events are
	// scaled by 1/SampleRate so that totals stay right.
	SampleRate float64
	// MaxSeriesPerMetric caps the distinct label sets of each metric, the "other" set
	// included; 0 means DefaultMaxSeriesPerMetric. It must be at least 2.
	MaxSeriesPerMetric int
	// MaxQueueIDs caps the distinct queue_id values across all metrics (the first ones seen
	// win); 0 means DefaultMaxQueueIDs.
	MaxQueueIDs int
	// MaxEventNames caps the event label of the self-metrics; 0 means DefaultMaxEventNames.
	MaxEventNames int
	// NativeHistogramMaxBuckets bounds the native-histogram buckets of every histogram
	// series; 0 means DefaultNativeHistogramMaxBuckets.
	NativeHistogramMaxBuckets uint32
	// ExemplarInterval is the least time, on the events' receive clock, between two
	// exemplars stored in the same bucket of the same series; 0 means
	// DefaultExemplarInterval, a negative value attaches an exemplar to every observation.
	// Prometheus keeps only the latest exemplar per bucket, so more would only cost CPU.
	ExemplarInterval time.Duration
}

// CheckSampleRate rejects a sample rate outside (0, 1].
func CheckSampleRate(rate float64) error {
	if math.IsNaN(rate) || rate <= 0 || rate > 1 {
		return fmt.Errorf("metrics: sample rate %v is outside (0, 1]", rate)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.SampleRate == 0 {
		c.SampleRate = 1
	}
	if err := CheckSampleRate(c.SampleRate); err != nil {
		return c, err
	}
	if c.MaxSeriesPerMetric == 0 {
		c.MaxSeriesPerMetric = DefaultMaxSeriesPerMetric
	}
	if c.MaxSeriesPerMetric < 2 {
		return c, fmt.Errorf("metrics: MaxSeriesPerMetric %d: need at least 2 (one series plus %q)", c.MaxSeriesPerMetric, OverflowValue)
	}
	if c.MaxQueueIDs == 0 {
		c.MaxQueueIDs = DefaultMaxQueueIDs
	}
	if c.MaxQueueIDs < 1 {
		return c, fmt.Errorf("metrics: MaxQueueIDs %d: need at least 1", c.MaxQueueIDs)
	}
	if c.MaxEventNames == 0 {
		c.MaxEventNames = DefaultMaxEventNames
	}
	if c.MaxEventNames < len(catalogue)+1 {
		return c, fmt.Errorf("metrics: MaxEventNames %d: need at least %d (the catalogue plus %q)", c.MaxEventNames, len(catalogue)+1, OverflowValue)
	}
	if c.NativeHistogramMaxBuckets == 0 {
		c.NativeHistogramMaxBuckets = DefaultNativeHistogramMaxBuckets
	}
	if c.ExemplarInterval == 0 {
		c.ExemplarInterval = DefaultExemplarInterval
	}
	return c, nil
}
