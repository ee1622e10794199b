package ftp_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"snodo/pkg/channel/ftp"
)

// FuzzCheckRemoteName: whatever name a server lists, an accepted one is a plain,
// visible, UTF-8 file name that cannot leave its folder.
func FuzzCheckRemoteName(f *testing.F) {
	for _, s := range []string{"IT01234567890_00001.xml", "../x", "a/b", `a\b`, "..", ".", "", "x\x00", "\u202egpj.exe",
		"\xff", strings.Repeat("a", 241), "FI.01234567890.2025031.1030.001.zip.done", " spazio .xml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ftp.CheckRemoteName(name) != nil {
			return
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || len(name) > ftp.MaxRemoteName || !utf8.ValidString(name) {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("accepted %q with control or bidi character %U", name, r)
			}
		}
	})
}
