package sshserve

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	gossh "golang.org/x/crypto/ssh"
)

// maxAuthorizedKeysBytes bounds the authorized-keys file read on every reload: a file this
// large is a mistake (or an attack on memory), not a list of engineers.
const maxAuthorizedKeysBytes = 4 << 20

// authorizedKeys is the set of public keys allowed in, swapped whole on reload so that an
// authentication in flight sees either the old set or the new one, never half of each.
type authorizedKeys struct {
	path string
	keys atomic.Pointer[map[string]string] // marshalled key -> comment
}

// parseAuthorizedKeys reads path in OpenSSH authorized_keys format. Options before a key
// (from="...", command="...") are refused rather than ignored: ignoring a from= restriction
// would let a key in from anywhere its owner thought it could not.
func parseAuthorizedKeys(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--ssh.authorized-keys: %w", err)
	}
	if fi.Size() > maxAuthorizedKeysBytes {
		return nil, fmt.Errorf("--ssh.authorized-keys %s: %d bytes, more than the %d this reads", path, fi.Size(), maxAuthorizedKeysBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ssh.authorized-keys: %w", err)
	}
	return parseAuthorizedKeysData(path, data)
}

// parseAuthorizedKeysData parses the contents of the authorized-keys file at path.
func parseAuthorizedKeysData(path string, data []byte) (map[string]string, error) {
	keys := map[string]string{}
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		pk, comment, options, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("--ssh.authorized-keys %s line %d: %w", path, n+1, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("--ssh.authorized-keys %s line %d: key options (%s) are not supported; list the bare key", path, n+1, strings.Join(options, ","))
		}
		keys[string(pk.Marshal())] = comment
	}
	return keys, nil
}

func newAuthorizedKeys(path string) (*authorizedKeys, error) {
	a := &authorizedKeys{path: path}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload replaces the set; on error the previous set stays in force.
func (a *authorizedKeys) reload() error {
	keys, err := parseAuthorizedKeys(a.path)
	if err != nil {
		return err
	}
	a.keys.Store(&keys)
	return nil
}

func (a *authorizedKeys) len() int { return len(*a.keys.Load()) }

// allowed reports whether pk is in the set, and its comment.
func (a *authorizedKeys) allowed(pk gossh.PublicKey) (string, bool) {
	comment, ok := (*a.keys.Load())[string(pk.Marshal())]
	return comment, ok
}

// loadOrCreateHostKey reads the host key at path, or creates an ed25519 key there (mode
// 0600, its directory 0700) when there is none, so a first start needs no ssh-keygen step.
// created reports a new key, whose fingerprint clients will be asked to trust.
func loadOrCreateHostKey(path string) (signer gossh.Signer, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = createHostKey(path)
		if err != nil {
			return nil, false, err
		}
		created = true
	} else if err != nil {
		return nil, false, fmt.Errorf("--ssh.host-key: %w", err)
	} else if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("--ssh.host-key %s: mode %04o lets others read the private key; chmod 600 it", path, fi.Mode().Perm())
	}
	signer, err = gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("--ssh.host-key %s: %w", path, err)
	}
	return signer, created, nil
}

func createHostKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "ingot-top daemon host key")
	if err != nil {
		return nil, fmt.Errorf("encoding the host key: %w", err)
	}
	data := pem.EncodeToMemory(block)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--ssh.host-key: %w", err)
	}
	// O_EXCL: two daemons starting at once must not both write, each trusting its own key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--ssh.host-key: creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--ssh.host-key: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("--ssh.host-key: writing %s: %w", path, err)
	}
	return data, nil
}
