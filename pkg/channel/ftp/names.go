package ftp

import (
	"fmt"
	"unicode/utf8"

	"snodo/pkg/channel"
)

// MaxRemoteName is the longest remote file name the receiver takes: the name plus the
// ".errore.txt" written beside a refused file still fits the usual 255-byte limit.
const MaxRemoteName = 240

// CheckRemoteName checks a name a server listed before the receiver uses it in a
// command or hands it on: a plain file name (no separators, "." or "..", control
// characters), valid UTF-8, no invisible format characters that disguise a name (bidi
// overrides, C1 controls, BOM), at most MaxRemoteName bytes. The error says what is
// wrong in Italian and English.
func CheckRemoteName(name string) error {
	if err := channel.SafeFileName(name); err != nil {
		return err
	}
	if len(name) > MaxRemoteName {
		return fmt.Errorf("nome file di %d byte oltre il limite di %d (file name too long)", len(name), MaxRemoteName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("nome file %q non in UTF-8: rinominare il file (file name is not UTF-8)", name)
	}
	for _, r := range name {
		if r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
			r == 0x200e || r == 0x200f || r == 0xfeff || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("nome file %q contiene caratteri invisibili o di controllo (U+%04X): rinominare il file (file name contains invisible or control characters)", name, r)
		}
	}
	return nil
}
