package record

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRotatorRotatesByAgeAndPrunesByRetention(t *testing.T) {
	dir := t.TempDir()
	// Not ours: retention must never touch it, however old.
	foreign := filepath.Join(dir, "notes.itr")
	if err := os.WriteFile(foreign, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	r, err := NewRotator(RotatorConfig{Dir: dir, MaxFileAge: time.Minute, Retention: 2 * time.Hour, Subject: "telemetry.>", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	msg := &Message{Subject: "telemetry.a.b", Data: []byte(`{}`), Size: 2}
	for range 3 {
		for range 60 {
			msg.Received = now
			if err := r.Write(msg); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Second)
			if err := r.Tick(0); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := DirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("3 minutes at --max-file-age 1m: %d files %v", len(files), files)
	}
	// The first file was last written three hours ago: past retention at the next tick.
	old := now.Add(-3 * time.Hour)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(foreign, old, old); err != nil {
		t.Fatal(err)
	}
	if err := r.Tick(0); err != nil {
		t.Fatal(err)
	}
	left, _ := DirFiles(dir)
	if r.Removed() != 1 || len(left) != len(files)-1+1 || left[0] == files[0] {
		t.Fatalf("after retention: removed %d, files %v (before %v)", r.Removed(), left, files)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("retention removed a file it did not write: %v", err)
	}
	if err := r.Close("test"); err != nil {
		t.Fatal(err)
	}
	for _, f := range left {
		rd, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
		if !rd.Stop().Complete {
			t.Fatalf("%s: %s", f, rd.Stop())
		}
		rd.Close()
	}
}

func TestRotatorRefusesADirItCannotMake(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRotator(RotatorConfig{Dir: filepath.Join(file, "record")}); err == nil {
		t.Fatal("a directory under a plain file was accepted")
	}
}
