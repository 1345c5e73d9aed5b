package sshserve

import (
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// FuzzAuthorizedKeys: whatever the file holds, parsing ends in keys or an error naming the
// line, never a panic; every accepted key is a real public key.
func FuzzAuthorizedKeys(f *testing.F) {
	f.Add([]byte("# team\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk1fLd2OqnY3ZwFrRkEl2C8jzW3tdzQ6B5wPqYgOZ7N alice@laptop\n"))
	f.Add([]byte(`from="10.0.0.1" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk1fLd2OqnY3ZwFrRkEl2C8jzW3tdzQ6B5wPqYgOZ7N` + "\n"))
	f.Add([]byte("ssh-rsa not-base64!\n\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseAuthorizedKeysData("authorized_keys", data)
		if err != nil {
			return
		}
		for raw := range keys {
			if _, err := gossh.ParsePublicKey([]byte(raw)); err != nil {
				t.Fatalf("accepted a key that does not parse: %v", err)
			}
		}
	})
}
