package history

import (
	"math"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// TestImpactSeries: the overall error rate and the users hit, second by second, as recorded;
// an aggregate without per-call impact gives the rate from the per-service counts and no
// users; unrecorded seconds are gaps.
func TestImpactSeries(t *testing.T) {
	r := New(Config{})
	for k := 1; k <= 120; k++ {
		if k == 50 {
			continue // a second the dashboard did not record
		}
		in := inputAt(k)
		if k > 100 {
			s := *in.Stream
			s.Impact = engine.Impact{}
			s.Services = []engine.ServiceStats{{Service: "anvil"}, {Service: "forge"}}
			for w := range engine.NumWindows {
				s.Services[0].Calls[w], s.Services[0].Errors[w] = 300, 30
				s.Services[1].Calls[w], s.Services[1].Errors[w] = 100, 10
			}
			in.Stream = &s
		}
		r.Record(in)
	}
	end := t0.Add(120 * time.Second)
	s := r.Impact(engine.Window5m, end.Add(-119*time.Second), end)
	if len(s.ErrorRate) != 120 || !s.Start.Equal(t0.Add(time.Second)) {
		t.Fatalf("series of %d from %s", len(s.ErrorRate), s.Start)
	}
	at := func(k int) int { return k - 1 }
	if got, want := s.ErrorRate[at(40)], 40.0/400; got != want || s.Users[at(40)] != 40%7 {
		t.Errorf("second 40: rate %v users %v, want %v and %d", got, s.Users[at(40)], want, 40%7)
	}
	if !math.IsNaN(s.ErrorRate[at(50)]) || !math.IsNaN(s.Users[at(50)]) {
		t.Errorf("an unrecorded second is not a gap: %v %v", s.ErrorRate[at(50)], s.Users[at(50)])
	}
	if got := s.ErrorRate[at(110)]; got != 0.1 || !math.IsNaN(s.Users[at(110)]) {
		t.Errorf("aggregate without impact: rate %v (want 0.1 from services) users %v (want unknown)", got, s.Users[at(110)])
	}
	if empty := (*Ring)(nil).Impact(engine.Window5m, t0, end); len(empty.ErrorRate) != 0 {
		t.Error("a nil ring has a series")
	}
}
