package wire

import (
	"syscall"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/sim"
)

// benchPayload is a realistic ~300-byte ingot.label.submit message.
const benchPayload = `{"v":1,"event":["ingot","label","submit"],"time":"2026-12-01T10:30:45.123Z",` +
	`"measurements":{"duration_ms":245.5,"client_latency_ms":31},` +
	`"metadata":{"queue_id":"queue_123","assignment_id":"asg_456","user_id":"user_789","method":"keyboard"},` +
	`"node":"ingot@10.0.0.7",` +
	`"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}}`

// cpuTime is the process's user+system CPU time. On a shared machine wall-clock ns/op swings
// with other load; CPU time per op (reported as cpu-ns/op) is steadier.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDecode(b *testing.B) { benchmarkDecode(b, (*Decoder).Decode) }

// BenchmarkDecodeOwned is BenchmarkDecode the way the feed decodes: DecodeOwned.
func BenchmarkDecodeOwned(b *testing.B) { benchmarkDecode(b, (*Decoder).DecodeOwned) }

type decodeFunc func(*Decoder, string, []byte, string, time.Time) (Event, *DecodeError)

func benchmarkDecode(b *testing.B, decode decodeFunc) {
	d := NewDecoder("telemetry")
	data := []byte(benchPayload)
	now := time.Now()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start, n := cpuTime(), 0
	for b.Loop() {
		if _, err := decode(d, "telemetry.ingot.label.submit", data, "", now); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// BenchmarkDecodeReference is the fastjson decoder this package used before its single-pass
// parser (reference_test.go), on the same payload: the before of BenchmarkDecode.
func BenchmarkDecodeReference(b *testing.B) {
	d := newRefDecoder("telemetry")
	data := []byte(benchPayload)
	now := time.Now()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start, n := cpuTime(), 0
	for b.Loop() {
		if _, err := d.Decode("telemetry.ingot.label.submit", data, "", now); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// BenchmarkScanOnly is the syntax pass alone (scanner.value over the payload, decoding
// nothing): the floor under BenchmarkDecode.
func BenchmarkScanOnly(b *testing.B) {
	data := []byte(benchPayload)
	start, n := cpuTime(), 0
	for b.Loop() {
		s := scanner{data: data}
		s.value(1)
		if s.err != "" {
			b.Fatal(s.err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

// BenchmarkDecodeMix is Decode alone over the simulator's platform mix, the same messages
// as the engine's BenchmarkDecodeAggregate (label submits, client calls with traces or
// traceparent headers, renders, queue stats): the decode share of that benchmark.
func BenchmarkDecodeMix(b *testing.B) { benchmarkDecodeMix(b, (*Decoder).Decode) }

// BenchmarkDecodeMixOwned is BenchmarkDecodeMix the way the feed decodes: DecodeOwned, the
// events reading their strings from the payloads.
func BenchmarkDecodeMixOwned(b *testing.B) { benchmarkDecodeMix(b, (*Decoder).DecodeOwned) }

func benchmarkDecodeMix(b *testing.B, decode decodeFunc) {
	const n = 100_000
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 7}, n)
	if err != nil {
		b.Fatal(err)
	}
	headers := make([]string, n)
	bytesTotal := 0
	for i := range msgs {
		if msgs[i].Header != nil {
			headers[i] = msgs[i].Header.Get("traceparent")
		}
		bytesTotal += len(msgs[i].Data)
	}
	d := NewDecoder("telemetry")
	now := time.Now()
	b.SetBytes(int64(bytesTotal / n))
	b.ReportAllocs()
	start, i := cpuTime(), 0
	for b.Loop() {
		m := &msgs[i%n]
		if _, err := decode(d, m.Subject, m.Data, headers[i%n], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(i), "cpu-ns/op")
}
