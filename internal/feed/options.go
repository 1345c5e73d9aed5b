package feed

import "time"

// Options are the connection flags, named and defaulted as natscli names them so that
// users can reuse their habits and their contexts. The kong tags make this struct
// embeddable in every command that reads the stream.
type Options struct {
	Server   string `short:"s" name:"server" env:"NATS_URL" default:"nats://127.0.0.1:4222" help:"NATS server URL(s), comma separated." placeholder:"URL"`
	Context  string `name:"context" env:"NATS_CONTEXT" help:"natscli context to load connection settings from (~/.config/nats/context/NAME.json)." placeholder:"NAME"`
	Creds    string `name:"creds" help:"User credentials file (JWT + NKey seed)." type:"path" placeholder:"FILE"`
	NKey     string `name:"nkey" help:"NKey seed file." type:"path" placeholder:"FILE"`
	User     string `name:"user" help:"Username or token for user/password auth." placeholder:"USER"`
	Password string `name:"password" help:"Password for user/password auth." placeholder:"PASS"`
	Token    string `name:"token" help:"Authentication token." placeholder:"TOKEN"`
	TLSCert  string `name:"tlscert" help:"TLS client certificate file." type:"path" placeholder:"FILE"`
	TLSKey   string `name:"tlskey" help:"TLS client private key file." type:"path" placeholder:"FILE"`
	TLSCA    string `name:"tlsca" help:"TLS CA certificate file to verify the server." type:"path" placeholder:"FILE"`
	Subject  string `name:"subject" default:"telemetry.>" help:"Subject to subscribe to; the part before the first wildcard is the event prefix." placeholder:"SUBJECT"`

	// ConnectTimeout bounds one dial attempt; reconnects go on forever with backoff.
	ConnectTimeout time.Duration `name:"connect-timeout" default:"2s" help:"Timeout of one connection attempt (retries go on forever)."`

	// The core subscription's client-side buffer: what ingot-top has not consumed yet. Past
	// it the client drops and counts events; memory grows by about 3 times PendingBytes at
	// peak (RUNBOOK.md, "Bursts"). JetStream mode (--durable) holds bursts on the server.
	PendingBytes ByteSize `name:"nats.pending-bytes" env:"INGOT_NATS_PENDING_BYTES" default:"8MiB" help:"Core NATS: most bytes of received, not yet processed events held in memory; past it events are dropped and counted (use --durable where none may be lost)." placeholder:"SIZE"`
	PendingMsgs  int      `name:"nats.pending-msgs" env:"INGOT_NATS_PENDING_MSGS" default:"32768" help:"Core NATS: most received, not yet processed events held in memory (at most 4194304)." placeholder:"N"`
}
