package main

import (
	"strings"
	"testing"
)

func TestSummaryShowsFailuresAndSkipReasons(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"p/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}`,
		`{"Action":"pass","Package":"p/a","Test":"TestOK","Elapsed":0.1}`,
		`{"Action":"output","Package":"p/a","Test":"TestTmux","Output":"=== RUN   TestTmux\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestTmux","Output":"    e2e_test.go:33: tmux not installed\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestTmux","Output":"--- SKIP: TestTmux (0.00s)\n"}`,
		`{"Action":"skip","Package":"p/a","Test":"TestTmux"}`,
		`{"Action":"pass","Package":"p/a","Elapsed":1.5}`,
		`{"Action":"output","Package":"p/b","Test":"TestBad","Output":"    b_test.go:9: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"p/b","Test":"TestBad","Elapsed":0.2}`,
		`{"Action":"fail","Package":"p/b","Elapsed":0.3}`,
		`# p/c`,
	}, "\n")
	var out strings.Builder
	code := run(strings.NewReader(in), &out)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a test failed)", code)
	}
	for _, want := range []string{
		"ok  \tp/a\t1.500s\n",
		"--- FAIL: TestBad (p/b, 0.20s)\n    b_test.go:9: got 1, want 2\n",
		"FAIL\tp/b\t0.300s\n",
		"# p/c\n",
		"1 tests skipped:\n  p/a TestTmux: e2e_test.go:33: tmux not installed\n",
		"\n1 passed, 1 failed, 1 skipped\n", // the closing line CI and people read
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "=== RUN   TestOK") {
		t.Errorf("a passing test's output was printed:\n%s", out.String())
	}
	out.Reset()
	if code := run(strings.NewReader(""), &out); code != 1 {
		t.Errorf("empty input: exit %d, want 1", code)
	}
}
