// Package feed owns the NATS side of ingot-top: connection options (natscli-compatible),
// the subscription, decoding every message with package wire, and handing batches of
// events to sinks (the aggregation engine, the exporter, the audit trail). It keeps the
// connection state that viewers show; the types it shares with its sinks and viewers live
// in package ingest.
package feed
