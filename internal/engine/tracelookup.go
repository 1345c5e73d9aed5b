package engine

import "context"

// Trace returns the spans of one trace seen within the trace horizon, oldest first, and
// whether the engine holds it: a trace from elsewhere (a Prometheus exemplar) opens as a
// waterfall when this engine saw the request too. The slice is shared; do not modify it.
func (e *Engine) Trace(ctx context.Context, traceID string) ([]TraceSpan, bool, error) {
	var spans []TraceSpan
	var ok bool
	err := e.onLoop(ctx, "trace lookup", func(s *state) { spans, ok = s.traces.lineage(traceID) })
	return spans, ok, err
}
