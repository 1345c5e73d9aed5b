package engine

// A daemon republishes who its failing client calls hit (the overall client error rate, the
// users with a failed call) and each queue's calls and failed calls, so that a viewer with
// --from-daemon shows the status line's "hit 31 users, 4 queues" and the Queues pane's
// err% instead of "?". Across daemons, counts add up exactly; distinct users do not (two
// daemons may see one user), so a sum over several daemons is marked as an estimate.

// AggregateImpact is the producer's Impact without the per-queue part, which travels in
// each queue's windows (AggregateQueueWindow.Calls and Errors).
type AggregateImpact struct {
	Calls          [NumWindows]uint64 `json:"calls"`
	Errors         [NumWindows]uint64 `json:"errors"`
	AffectedUsers  [NumWindows]uint64 `json:"affected_users"`
	UsersEstimated bool               `json:"users_estimated,omitempty"`
	ErrorsNoUser   [NumWindows]uint64 `json:"errors_no_user"`
	ErrorsNoQueue  [NumWindows]uint64 `json:"errors_no_queue"`
}

// aggregateImpact is the engine's Impact as buildImpact computes it, less the queue count,
// which a merger recounts over the union of queues.
func (s *state) aggregateImpact() *AggregateImpact {
	var snap Snapshot
	s.buildImpact(&snap) // no queue rows: AffectedQueues stays zero, recounted on merge
	im := &snap.Impact
	return &AggregateImpact{Calls: im.Calls, Errors: im.Errors, AffectedUsers: im.AffectedUsers,
		UsersEstimated: im.UsersEstimated, ErrorsNoUser: im.ErrorsNoUser, ErrorsNoQueue: im.ErrorsNoQueue}
}

// checkImpact is parseAggregate's part for the impact: failed calls are a subset of calls.
func (x *Aggregate) checkImpact(bad func(string, ...any) error) error {
	if im := x.Impact; im != nil {
		for w := range NumWindows {
			if im.Errors[w] > im.Calls[w] || im.ErrorsNoUser[w] > im.Errors[w] || im.ErrorsNoQueue[w] > im.Errors[w] {
				return bad("impact %s: %d errors, %d without user, %d without queue, of %d calls",
					Window(w), im.Errors[w], im.ErrorsNoUser[w], im.ErrorsNoQueue[w], im.Calls[w])
			}
		}
	}
	for i := range x.Queues {
		for w, qw := range x.Queues[i].Windows {
			if qw.Errors > qw.Calls {
				return bad("queue %q %s: %d errors of %d calls", x.Queues[i].ID, Window(w), qw.Errors, qw.Calls)
			}
		}
	}
	return nil
}

// SnapshotWithImpact is Snapshot with the producers' impact merged in: Impact.Known when
// every live producer sent one (a daemon too old to send it would make the sums low), and
// the affected queues recounted over the merged rows (whose calls and failed calls the row
// builder merged with every other column).
func (m *Merger) SnapshotWithImpact() *Snapshot {
	now, ps, extra := m.live()
	if len(ps) == 0 {
		s := emptySnapshot(now)
		s.Errors = mergeErrors(nil, extra)
		return s
	}
	snap := mergeParsed(ps, extra)
	fillImpact(snap, ps)
	return snap
}

// fillImpact merges the producers' impact into a snapshot merged from them.
func fillImpact(snap *Snapshot, ps []*parsedAggregate) {
	im := Impact{Known: true}
	withUsers := 0
	for _, p := range ps {
		x := p.x
		if x.Impact == nil {
			return // unknown: the viewer says "?" rather than a sum that leaves a daemon out
		}
		some := false
		for w := range NumWindows {
			im.Calls[w] += x.Impact.Calls[w]
			im.Errors[w] += x.Impact.Errors[w]
			im.AffectedUsers[w] += x.Impact.AffectedUsers[w]
			im.ErrorsNoUser[w] += x.Impact.ErrorsNoUser[w]
			im.ErrorsNoQueue[w] += x.Impact.ErrorsNoQueue[w]
			some = some || x.Impact.AffectedUsers[w] > 0
		}
		if some {
			withUsers++
		}
		im.UsersEstimated = im.UsersEstimated || x.Impact.UsersEstimated
	}
	// one user failing on two daemons is counted twice: the sum is an estimate
	im.UsersEstimated = im.UsersEstimated || withUsers > 1
	for w := range NumWindows {
		if im.Calls[w] > 0 {
			im.ErrorRate[w] = float64(im.Errors[w]) / float64(im.Calls[w])
		}
	}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		for w := range NumWindows {
			if q.Errors[w] == 0 {
				continue
			}
			im.AffectedQueues[w]++
			if q.ID == OtherID && q.Folded > 1 {
				im.QueuesLowerBound[w] = true
			}
		}
	}
	snap.Impact = im
}
