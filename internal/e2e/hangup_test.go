package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A dropped SSH session sends SIGHUP: the demo must stop as on Ctrl-C and remove its
// temporary JetStream store, as its help promises ("nothing left behind").
func TestDemoCleansUpOnHangup(t *testing.T) {
	bin := buildBinary(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "demo", "--no-ui", "--rate", "50")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "NATS at nats://") {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not print its NATS URL within 30s")
	}
	stores, _ := filepath.Glob(filepath.Join(tmp, "ingot-top-demo-*"))
	if len(stores) != 1 {
		t.Fatalf("demo stores in TMPDIR while running: %v, want one", stores)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo after SIGHUP: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not exit within 30s of SIGHUP")
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "ingot-top-demo-*")); len(left) != 0 {
		t.Errorf("left behind after SIGHUP: %v", left)
	}
}
