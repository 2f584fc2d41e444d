package file

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/scoped-go/scoped"
)

// maxEncodedName is the longest escaped name used as a file name, leaving
// room for a suffix under the 255-byte limit of common file systems.
const maxEncodedName = 200

// Suffixes of the files of a scope.
const (
	recordSuffix = ".rec"
	tempSuffix   = ".tmp"
)

// The lock files: lockStripes files in the subdirectory lockDir, shared by
// all scopes. The number and the hash that picks a scope's file are part of
// the on-disk format: every process sharing a directory must agree on them.
const (
	lockDir     = ".locks"
	lockStripes = 256
)

// fileBase returns the base of the file names of the scope name: the name
// with every byte other than a-z, 0-9, '-' and '_' written as %XX (upper-case
// hex), or '+' and the hex SHA-256 of the name if that is longer than
// maxEncodedName. Distinct names give distinct bases, also when compared
// without regard to case (but for a SHA-256 collision, which the name kept in
// the record catches), and a base never holds '/', '.' or a NUL byte.
func fileBase(name string) string {
	const upperHex = "0123456789ABCDEF"
	b := make([]byte, 0, min(len(name), maxEncodedName))
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			b = append(b, c)
		default:
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xf])
		}
		if len(b) > maxEncodedName {
			sum := sha256.Sum256([]byte(name))
			return "+" + hex.EncodeToString(sum[:])
		}
	}
	return string(b)
}

// nameOfBase returns the scope name whose file base is base, and true, if
// base is an escaped name. It returns false for a digest, whose name only
// the record holds, and for a base that fileBase gives for no valid name.
func nameOfBase(base string) (string, bool) {
	b := make([]byte, 0, len(base))
	for i := 0; i < len(base); i++ {
		if base[i] != '%' {
			b = append(b, base[i])
			continue
		}
		if i+2 >= len(base) {
			return "", false
		}
		c, err := hex.DecodeString(base[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b = append(b, c[0])
		i += 2
	}
	name := string(b)
	if scoped.ValidateName(name) != nil || fileBase(name) != base {
		return "", false
	}
	return name, true
}

// stripe returns the lock stripe of the scope whose file base is base: the
// first two bytes of the SHA-256 of base, as a big-endian number, modulo
// lockStripes. The base, not the name, is hashed so that Open can find the
// stripe of a temporary file from its file name alone.
func stripe(base string) int {
	sum := sha256.Sum256([]byte(base))
	return int(binary.BigEndian.Uint16(sum[:2])) % lockStripes
}

// lockName returns the name, within lockDir, of the lock file of stripe i:
// i in lower-case hexadecimal, two digits.
func lockName(i int) string { return fmt.Sprintf("%02x", i) }
