package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// docs/publishing.md shows publishers one message per event family, in the format of
// `simulate --print`. A wrong example there would teach every service the wrong thing, so
// each line is decoded with the product's decoder.
func TestPublishingGuideExamplesAreValid(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "publishing.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inText := false
	for _, l := range strings.Split(string(guide), "\n") {
		switch {
		case l == "```text":
			inText = true
		case strings.HasPrefix(l, "```"):
			inText = false
		case inText && strings.TrimSpace(l) != "":
			lines = append(lines, l)
		}
	}
	dec := wire.NewDecoder("telemetry")
	families := map[string]bool{}
	for _, l := range lines {
		subject, payload, ok := strings.Cut(l, " ")
		if !ok {
			subject, payload, ok = strings.Cut(l, "\t")
		}
		if !ok {
			t.Errorf("not a subject and a payload: %q", l)
			continue
		}
		payload, traceparent, _ := strings.Cut(payload, "\ttraceparent: ")
		ev, derr := dec.Decode(subject, []byte(payload), traceparent, time.Now())
		if derr != nil {
			t.Errorf("%s: %v\n%s", subject, derr, l)
			continue
		}
		families[ev.Segments[0]+"."+ev.Segments[1]] = true
	}
	for _, f := range []string{"ingot.label", "ingot.forge_client", "forge.pipeline", "anvil.queue"} {
		if !families[f] {
			t.Errorf("the guide has no example of %s.* (found %v)", f, families)
		}
	}
}
