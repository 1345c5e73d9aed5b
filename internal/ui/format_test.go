package ui

import (
	"testing"
	"time"
)

// TestNumbersShowThreeSignificantDigits: rates and counts keep at most 3 significant digits
// and 6 cells, including where rounding carries into the next unit.
func TestNumbersShowThreeSignificantDigits(t *testing.T) {
	for _, c := range []struct {
		v           float64
		rate, count string
	}{
		{0, "0", "0"},
		{4.567, "4.57", "5"},
		{9.996, "10.0", "10"},
		{99.96, "100", "100"},
		{999.4, "999", "999"},
		{999.5, "1.00k", "1.00k"},
		{1234, "1.23k", "1.23k"},
		{9995, "10.0k", "10.0k"},
		{45_678, "45.7k", "45.7k"},
		{99_950, "100k", "100k"},
		{999_499, "999k", "999k"},
		{999_500, "1.00M", "1.00M"},
		{12_345_678, "12.3M", "12.3M"},
		{2.5e9, "2.50G", "2.50G"},
		{5e12, ">999G", ">999G"},
	} {
		if got := fmtRate(c.v); got != c.rate || len([]rune(got)) > 6 {
			t.Errorf("fmtRate(%v) = %q, want %q", c.v, got, c.rate)
		}
		if got := fmtCount(c.v); got != c.count || len([]rune(got)) > 6 {
			t.Errorf("fmtCount(%v) = %q, want %q", c.v, got, c.count)
		}
	}
}

func TestETAInWholeMinutes(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "<1m", 59 * time.Second: "<1m", time.Minute: "1m", 90 * time.Second: "1m", 65 * time.Minute: "1h05m"} {
		if got := fmtETA(d); got != want {
			t.Errorf("fmtETA(%s) = %q, want %q", d, got, want)
		}
	}
}
