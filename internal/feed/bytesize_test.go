package feed

import "testing"

func TestByteSizeParses(t *testing.T) {
	for in, want := range map[string]ByteSize{"8MiB": 8 << 20, "512KiB": 512 << 10, "8388608": 8 << 20, "8 MB": 8e6, "1GiB": 1 << 30, "0": 0} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q: %v, %v; want %v", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "8TB", "lots", "2000GiB", "1.5MiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %v", bad, b)
		}
	}
	if s := ByteSize(8 << 20).String(); s != "8MiB" {
		t.Errorf("String = %q", s)
	}
}

// The pending limits flow from the flags (Options) into the feed unless the caller set them.
func TestPendingLimitsComeFromTheFlags(t *testing.T) {
	opts := Options{Server: "nats://127.0.0.1:1", Subject: "telemetry.>", PendingBytes: 16 << 20, PendingMsgs: 1000}
	f, err := New(opts, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.PendingBytes != 16<<20 || f.cfg.PendingMsgs != 1000 {
		t.Errorf("from flags: %d bytes, %d msgs", f.cfg.PendingBytes, f.cfg.PendingMsgs)
	}
	f, err = New(Options{Server: opts.Server, Subject: opts.Subject}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.PendingBytes != DefaultPendingBytes || f.cfg.PendingMsgs != DefaultPendingMsgs {
		t.Errorf("defaults: %d bytes, %d msgs", f.cfg.PendingBytes, f.cfg.PendingMsgs)
	}
}
