// Package promsrc owns the dashboard's fleet-wide data sources beside the live stream: a
// Prometheus server read through its HTTP API (queue throughput, latency percentiles over
// the ADR-008 histograms across every Ingot node, an hour of history loaded with
// query_range at start, and the alerts it fires), and /metrics endpoints scraped directly
// (expfmt) for sites without a Prometheus server, whose rates and quantiles come from the
// deltas between scrapes. Each source polls in its own goroutine with every request bounded
// by a timeout; the dashboard reads an immutable Snapshot that never blocks, in which every
// source carries its age and a stale flag.
//
// The PromQL is in DefaultQueries, by name (queue_rate, queue_total, queue_pending,
// queue_p50, op_latency, op_rate, op_error_ratio; see the constants). The config file
// replaces any of them:
//
//	queries:
//	  queue_rate: sum by (queue_id) (rate(ingot_labels_submitted_total{env="prod"}[5m])) * 60
//	  op_latency: histogram_quantile($quantile, sum by (le, op) (rate(my_latency_bucket[5m])))
//
// Results are matched on the queue_id and op labels; latencies are in seconds.
package promsrc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Source polls the configured Prometheus server and scrape endpoints.
type Source struct {
	clock    func() time.Time
	prom     *promPoller
	scrapers []*scraper

	// figures is the last published set of fleet figures; Snapshot adds fresh statuses.
	figures atomic.Pointer[Snapshot]
	// pubMu serialises publish, so that a slower publisher cannot store older figures over
	// newer ones.
	pubMu sync.Mutex

	histMu     sync.Mutex
	scrapeStep time.Duration
	scrapeHist map[string]Series // labels/min by queue, scrape sources
	scrapeP50  map[string]Series
}

// New validates the flags and queries and builds the Source; it does no I/O. queries are
// the config file's `queries:` section (nil for none): each key must be one of QueryNames,
// and its PromQL replaces the default (an empty value turns that query off). clock is the
// time source for ages, evaluation times and scrape deltas (time.Now when nil).
//
// With neither --prometheus nor --scrape, New returns a nil *Source and no error; the
// methods of a nil Source are no-ops (Run returns at once, Snapshot returns nil), so a
// caller can use the result without checking. Unknown query names are rejected even then,
// so a typo in the config file is caught.
func New(flags Flags, queries map[string]string, clock func() time.Time) (*Source, error) {
	qs, err := resolveQueries(queries)
	if err != nil {
		return nil, err
	}
	if !flags.Configured() {
		return nil, nil
	}
	if clock == nil {
		clock = time.Now
	}
	flags = flags.withDefaults()
	s := &Source{clock: clock, scrapeStep: flags.ScrapeInterval,
		scrapeHist: map[string]Series{}, scrapeP50: map[string]Series{}}
	if flags.Prometheus != "" {
		if s.prom, err = newPromPoller(flags, qs, clock); err != nil {
			return nil, err
		}
	}
	for _, u := range flags.Scrape {
		sc, err := newScraper(u, flags, clock)
		if err != nil {
			return nil, err
		}
		s.scrapers = append(s.scrapers, sc)
	}
	s.publish()
	return s, nil
}

// Run polls every source until ctx ends, each in its own goroutine (a hanging server holds
// up only its own poller, for at most the timeout). It returns nil when ctx is cancelled;
// failures are reported in the Snapshot, never returned.
func (s *Source) Run(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var wg sync.WaitGroup
	if s.prom != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, s.prom.interval, func(ctx context.Context) { _ = s.prom.poll(ctx) },
				func(err error) { _ = s.prom.fail(s.clock(), err) })
		}()
	}
	for _, sc := range s.scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, sc.interval, func(ctx context.Context) { _ = sc.poll(ctx) },
				func(err error) { _ = sc.fail(s.clock(), err) })
		}()
	}
	wg.Wait()
	return nil
}

// loop polls at once, then every interval; a poll that overruns delays the next one
// rather than stacking requests on a slow server. A panic while polling or publishing (a bug
// met by some answer) marks the source failing through fail instead of ending the process.
func (s *Source) loop(ctx context.Context, interval time.Duration, poll func(context.Context), fail func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	round := func() {
		defer func() {
			if r := recover(); r != nil {
				fail(panicError(r))
			}
		}()
		poll(ctx)
		s.publish()
	}
	for {
		round()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollAll runs one round of every source, in turn; tests drive the Source with it.
func (s *Source) pollAll(ctx context.Context) {
	if s.prom != nil {
		_ = s.prom.poll(ctx)
	}
	for _, sc := range s.scrapers {
		_ = sc.poll(ctx)
	}
	s.publish()
}

// publish recomputes the fleet figures after a poll. Prometheus wins once it has answered;
// until then (or without it) the scrape endpoints' deltas are used.
func (s *Source) publish() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	now := s.clock()
	snap := &Snapshot{At: now}
	if s.prom != nil {
		if _, figs, ok := s.prom.state(now); ok {
			snap.Kind, snap.FiguresAt = KindPrometheus, figs.at
			snap.Queues, snap.Ops, snap.Alerts = figs.queues, figs.ops, figs.alerts
			s.figures.Store(snap)
			return
		}
	}
	if len(s.scrapers) == 0 {
		snap.Kind = KindPrometheus
		s.figures.Store(snap)
		return
	}
	windows := make([]window, 0, len(s.scrapers))
	for _, sc := range s.scrapers {
		_, w := sc.state(now)
		windows = append(windows, w)
	}
	queues, ops, ok := scrapeFigures(windows)
	snap.Kind = KindScrape
	if ok {
		snap.FiguresAt = now
		s.appendScrapeHistory(queues, now)
		snap.Queues, snap.Ops = queues, ops
	}
	s.figures.Store(snap)
}

// appendScrapeHistory adds this publication's figures to the scrape sources' history.
func (s *Source) appendScrapeHistory(queues []QueueFleet, now time.Time) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	for i := range queues {
		q := &queues[i]
		q.History = appendPoint(s.scrapeHist[q.ID], s.scrapeStep, now, q.LabelsPerMin)
		p50 := q.P50MS
		if p50 <= 0 {
			p50 = -1
		}
		q.P50History = appendPoint(s.scrapeP50[q.ID], s.scrapeStep, now, p50)
		s.scrapeHist[q.ID], s.scrapeP50[q.ID] = q.History, q.P50History
	}
	// forget queues that left the endpoints, so the maps stay bounded by MaxSeries
	if len(s.scrapeHist) > len(queues) {
		live := make(map[string]bool, len(queues))
		for _, q := range queues {
			live[q.ID] = true
		}
		for id := range s.scrapeHist {
			if !live[id] {
				delete(s.scrapeHist, id)
				delete(s.scrapeP50, id)
			}
		}
	}
}

// Snapshot returns the current figures with every source's status as of now. It never
// blocks on I/O: polls hold their locks only to swap results in. Nil for a nil Source.
func (s *Source) Snapshot() *Snapshot {
	if s == nil {
		return nil
	}
	now := s.clock()
	out := *s.figures.Load()
	out.At = now
	out.Sources = make([]SourceStatus, 0, 1+len(s.scrapers))
	if s.prom != nil {
		st, _, _ := s.prom.state(now)
		out.Sources = append(out.Sources, st)
	}
	for _, sc := range s.scrapers {
		st, _ := sc.statusAt(now)
		out.Sources = append(out.Sources, st)
	}
	return &out
}
