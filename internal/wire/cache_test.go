package wire

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/nsai/ingot-top/internal/sim"
)

// TestCachesMatchReference: the decoder's caches (the known events, the keys, the minute of
// the time) answer as the reference decoder, which has none, over the simulator's mix, each
// message followed now and then by a variant a cache could mistake for what it has seen:
// the same subject with another event array, the same array under another subject, the
// same minute with a bad second, a key spelled with an escape.
func TestCachesMatchReference(t *testing.T) {
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 7}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	firstSegment := regexp.MustCompile(`"event":\["(.)`)
	timeSecond := regexp.MustCompile(`("time":"[^"]{17})\d\d`)
	timeMinute := regexp.MustCompile(`"time":"[^"]{14}\d\d`)
	variants := []func(subject, body string) (string, string){
		// The first segment with its first letter escaped: the same name, another text.
		func(subject, body string) (string, string) {
			return subject, firstSegment.ReplaceAllStringFunc(body, func(m string) string {
				return fmt.Sprintf(`"event":["\u%04x`, m[len(m)-1])
			})
		},
		// One segment more, or a capital: refused, and must not be taken from the cache.
		func(subject, body string) (string, string) {
			return subject, strings.Replace(body, `"],"time"`, `","x"],"time"`, 1)
		},
		func(subject, body string) (string, string) {
			return subject, strings.Replace(body, `"event":["i`, `"event":["I`, 1)
		},
		// The same array under another subject.
		func(subject, body string) (string, string) { return subject + "x", body },
		func(subject, body string) (string, string) { return strings.Replace(subject, ".", ".x", 2), body },
		// The same minute, a second out of range or not a number.
		func(subject, body string) (string, string) {
			return subject, timeSecond.ReplaceAllString(body, "${1}61")
		},
		func(subject, body string) (string, string) {
			return subject, timeSecond.ReplaceAllString(body, "${1}5x")
		},
		// Another minute, and another day.
		func(subject, body string) (string, string) {
			return subject, timeMinute.ReplaceAllStringFunc(body, func(m string) string {
				if strings.HasSuffix(m, "07") {
					return m[:len(m)-2] + "08"
				}
				return m[:len(m)-2] + "07"
			})
		},
		func(subject, body string) (string, string) {
			return subject, strings.Replace(body, `"time":"2026-12-0`, `"time":"2026-11-0`, 1)
		},
		// Keys spelled with escapes, and a key with a DEL, which is not plain.
		func(subject, body string) (string, string) {
			return subject, strings.Replace(body, `"queue_id"`, `"queue\u005fid"`, 1)
		},
		func(subject, body string) (string, string) {
			return subject, strings.Replace(body, `"user_id"`, "\"user_id\x7f\"", 1)
		},
	}
	d, ref := NewDecoder("telemetry"), newRefDecoder("telemetry")
	for i := range msgs {
		m := &msgs[i]
		traceparent := ""
		if m.Header != nil {
			traceparent = m.Header.Get("traceparent")
		}
		compareWithReference(t, d, ref, m.Subject, m.Data, traceparent)
		if i%7 == 0 {
			subject, body := variants[(i/7)%len(variants)](m.Subject, string(m.Data))
			compareWithReference(t, d, ref, subject, []byte(body), traceparent)
		}
	}
}
