package audit

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompressionStopsAtShutdownAndLeavesThePlainFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "audit-2026-11-27"+plainExt)
	content := bytes.Repeat([]byte(`{"seq":1,"event":"ingot.label.submit"}`+"\n"), 50_000)
	if err := os.WriteFile(plain, content, 0o640); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	close(stopped)
	done, err := gzipDayFile(plain, stopped)
	if done || !errors.Is(err, errCompressionStopped) {
		t.Fatalf("gzipDayFile with shutdown under way = %v, %v; want stopped", done, err)
	}
	if got, err := os.ReadFile(plain); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the plain file was not left intact: %v", err)
	}
	tmp := strings.TrimSuffix(plain, plainExt) + tmpExt
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a partial %s was left behind: %v", tmp, err)
	}

	// Next start: it compresses in full.
	done, err = gzipDayFile(plain, make(chan struct{}))
	if !done || err != nil {
		t.Fatalf("gzipDayFile = %v, %v", done, err)
	}
	f, err := os.Open(strings.TrimSuffix(plain, plainExt) + gzExt)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("compressed content differs (%v)", err)
	}
	if _, err := os.Stat(plain); !errors.Is(err, os.ErrNotExist) {
		t.Error("the plain file remains after compression")
	}
}
