// Command testsummary reads `go test -json` on stdin and prints what a person needs from a
// whole-suite run: the package lines of `go test`, the full output of every failed test,
// and, at the end, every skipped test with the reason it gave. The suite skips tests whose
// real parts (Prometheus, promtool, tmux, zsh, fish) are not installed; the list says which
// and why, instead of a green run that silently tested less.
//
//	go test -json ./... | go run ./scripts/testsummary
//
// It exits 1 when a test or a package failed (or the input held no result at all).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// maxLinesPerTest bounds what is kept of one test's output: a runaway log must not take
// the summariser's memory; the head and the tail are what explain a failure.
const maxLinesPerTest = 400

type testKey struct{ pkg, test string }

type lines struct {
	head, tail []string
	dropped    int
}

func (l *lines) add(s string) {
	if len(l.head) < maxLinesPerTest/2 {
		l.head = append(l.head, s)
		return
	}
	l.tail = append(l.tail, s)
	if len(l.tail) > maxLinesPerTest/2 {
		l.tail = l.tail[1:]
		l.dropped++
	}
}

func (l *lines) write(w io.Writer) {
	for _, s := range l.head {
		fmt.Fprint(w, s)
	}
	if l.dropped > 0 {
		fmt.Fprintf(w, "    ... %d lines left out ...\n", l.dropped)
	}
	for _, s := range l.tail {
		fmt.Fprint(w, s)
	}
}

type skip struct {
	pkg, test, reason string
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	output := map[testKey]*lines{}
	var skips []skip
	// Counted per test (subtests included), not per package: the closing line is read by
	// people and by CI as "N passed, N failed, N skipped".
	failed, results, passedTests, failedTests := 0, 0, 0, 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not test2json (a build error printed by go itself): pass it through.
			fmt.Fprintln(out, sc.Text())
			continue
		}
		k := testKey{e.Package, e.Test}
		switch e.Action {
		case "output", "build-output":
			if output[k] == nil {
				output[k] = &lines{}
			}
			output[k].add(e.Output)
		case "fail":
			results++
			failed++
			if e.Test != "" {
				failedTests++
				fmt.Fprintf(out, "--- FAIL: %s (%s, %.2fs)\n", e.Test, e.Package, e.Elapsed)
			} else {
				fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			if l := output[k]; l != nil {
				l.write(out)
			}
			delete(output, k)
		case "pass":
			results++
			if e.Test != "" {
				passedTests++
			}
			if e.Test == "" {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(output, k)
		case "skip":
			results++
			if e.Test == "" {
				fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
			} else {
				skips = append(skips, skip{e.Package, e.Test, skipReason(output[k])})
			}
			delete(output, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading go test -json: %v\n", err)
		return 1
	}
	if len(skips) > 0 {
		sort.Slice(skips, func(i, j int) bool {
			return skips[i].pkg+"\x00"+skips[i].test < skips[j].pkg+"\x00"+skips[j].test
		})
		fmt.Fprintf(out, "\n%d tests skipped:\n", len(skips))
		for _, s := range skips {
			fmt.Fprintf(out, "  %s %s: %s\n", strings.TrimPrefix(s.pkg, "github.com/nsai/ingot-top/"), s.test, s.reason)
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passedTests, failedTests, len(skips))
	switch {
	case results == 0:
		fmt.Fprintln(out, "testsummary: no test results in the input")
		return 1
	case failed > 0:
		return 1
	}
	return 0
}

// skipReason is the message a test gave to t.Skip: its output without the framework's
// "=== RUN" and "--- SKIP" lines.
func skipReason(l *lines) string {
	if l == nil {
		return "(no reason given)"
	}
	var parts []string
	for _, s := range append(append([]string{}, l.head...), l.tail...) {
		t := strings.TrimSpace(s)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}
