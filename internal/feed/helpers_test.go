package feed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// recordingSink keeps everything it is given and can be told to fail or block.
type recordingSink struct {
	mu       sync.Mutex
	events   []wire.Event
	invalid  []ingest.Invalid
	batches  int
	failNext int           // HandleBatch calls still to fail
	block    chan struct{} // when set, HandleBatch waits for it to close
	notify   chan struct{}
}

func newRecordingSink() *recordingSink {
	return &recordingSink{notify: make(chan struct{}, 1)}
}

func (s *recordingSink) HandleBatch(events []wire.Event) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	s.batches++
	if s.failNext > 0 {
		s.failNext--
		return fmt.Errorf("disk full")
	}
	s.events = append(s.events, events...)
	return nil
}

func (s *recordingSink) HandleInvalid(bad ingest.Invalid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	s.invalid = append(s.invalid, bad)
	return nil
}

func (s *recordingSink) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *recordingSink) snapshot() ([]wire.Event, []ingest.Invalid, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Event(nil), s.events...), append([]ingest.Invalid(nil), s.invalid...), s.batches
}

// runFeed starts f.Run and returns a stop function that cancels it and waits for Run to
// return, failing the test if that takes more than a few seconds.
func runFeed(t testing.TB, f *Feed) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func eventBody(name string, i int) []byte {
	segs := ""
	for j, s := range splitDots(name) {
		if j > 0 {
			segs += ","
		}
		segs += `"` + s + `"`
	}
	return []byte(fmt.Sprintf(`{"v":1,"event":[%s],"time":"2026-12-01T10:30:45.123Z","measurements":{"duration_ms":%d},"metadata":{"queue_id":"queue_1","i":%d}}`, segs, 100+i, i))
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func connectPublisher(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, written
// as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ingot-top test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key := mustKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		certFile = writePEM(t, dir, name+".crt", "CERTIFICATE", der)
		keyDER, _ := x509.MarshalECPrivateKey(key)
		keyFile = writePEM(t, dir, name+".key", "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p := testPKI{caFile: writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
