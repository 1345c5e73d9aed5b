package health

import (
	"testing"

	"github.com/nsai/ingot-top/internal/wire"
)

// FuzzBody feeds arbitrary /health bodies through everything that reads them: nothing may
// panic and nothing shown may carry a control or bidi character.
func FuzzBody(f *testing.F) {
	f.Add([]byte(ingotBody))
	f.Add([]byte(`{"status":"\u001b[31m","services":{"forge":"healthy","x":[1,2],"y":null}}`))
	f.Add([]byte("\x1b]0;title\x07 text body"))
	f.Add([]byte(`{"services":{"anvil":{"status":"down","reason":{"a":1},"latency_ms":-3}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, ok := parseBody(body)
		shown := []string{textExcerpt(body)}
		if ok {
			shown = append(shown, describeObject(obj, "services"))
			reports, extra := ingotServices(obj)
			for _, k := range extra {
				shown = append(shown, wire.SafeString(k, 40))
			}
			for _, r := range reports {
				shown = append(shown, r.err, r.detail)
				if r.latency < 0 {
					t.Errorf("negative latency %v", r.latency)
				}
			}
		}
		for _, s := range shown {
			assertPrintable(t, "shown", s)
		}
	})
}
