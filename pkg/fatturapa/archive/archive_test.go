package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"strings"
	"testing"
)

type file struct {
	name   string
	data   []byte
	mode   fs.FileMode
	flags  uint16
	method uint16
}

func build(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Flags: f.flags}
		if f.method != 0 {
			h.Method = f.method
		}
		if f.mode != 0 {
			h.SetMode(f.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// forged writes one deflated entry whose header declares a size smaller than the data.
func forged(t testing.TB, name string, data []byte, declared uint64) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

var invoice = []byte(`<?xml version="1.0"?><p:FatturaElettronica versione="FPR12"/>`)

func TestReadAcceptsLot(t *testing.T) {
	data := build(t, file{name: "IT01234567890_00001.xml", data: invoice}, file{name: "IT01234567890_00002.xml.p7m", data: []byte("\x30\x80signed")})
	entries, err := Read("IT01234567890_00003.zip", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "IT01234567890_00001.xml" || !bytes.Equal(entries[0].Data, invoice) || entries[1].Name != "IT01234567890_00002.xml.p7m" {
		t.Fatalf("entries = %+v", entries)
	}
}

func TestReadOfficialArchive(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/fatturapa/samples/IT01234567890_12006.zip")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Read("IT01234567890_12006.zip", data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "IT01234567890_12001.xml" || len(entries[0].Data) != 4735 || entries[1].Name != "IT01234567890_12003.xml" || len(entries[1].Data) != 7703 {
		t.Fatalf("entries: %d", len(entries))
	}
}

func TestReadRefusals(t *testing.T) {
	zeros := make([]byte, 30<<20)
	many := make([]file, 11)
	for i := range many {
		many[i] = file{name: strings.Repeat("a", i+1) + ".xml", data: invoice}
	}
	nested := build(t, file{name: "inner.xml", data: invoice})
	cases := []struct {
		name   string
		data   []byte
		lim    Limits
		reason string
	}{
		{"empty", nil, Limits{}, "archivio vuoto"},
		{"not zip", []byte("<xml/>"), Limits{}, "corrotto o non zip"},
		{"truncated", build(t, file{name: "a.xml", data: invoice})[:40], Limits{}, "corrotto"},
		{"no entries", build(t), Limits{}, "senza file"},
		{"dot dot", build(t, file{name: "../a.xml", data: invoice}), Limits{}, "'..'"},
		{"absolute", build(t, file{name: "/etc/a.xml", data: invoice}), Limits{}, "assoluto"},
		{"backslash", build(t, file{name: `..\a.xml`, data: invoice}), Limits{}, `'\'`},
		{"folder", build(t, file{name: "dir/", data: nil}), Limits{}, "cartella"},
		{"nested dir", build(t, file{name: "dir/a.xml", data: invoice}), Limits{}, "dentro una cartella"},
		{"symlink", build(t, file{name: "a.xml", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}), Limits{}, "file regolare"},
		{"encrypted", build(t, file{name: "a.xml", data: invoice, flags: 0x1}), Limits{}, "cifrata"},
		{"repeated", build(t, file{name: "a.xml", data: invoice}, file{name: "A.XML", data: invoice}), Limits{}, "ripetuto"},
		{"nested zip by name", build(t, file{name: "inner.zip", data: nested}), Limits{}, "annidato"},
		{"nested zip by content", build(t, file{name: "inner.xml", data: nested}), Limits{}, "annidato"},
		{"too many", build(t, many...), Limits{MaxEntries: 10}, "11 voci"},
		{"bomb by ratio", build(t, file{name: "a.xml", data: zeros[:10<<20]}), Limits{}, "rapporto di compressione"},
		{"bomb by size", build(t, file{name: "a.xml", data: zeros}), Limits{MaxRatio: 1 << 30}, "oltre il massimo"},
		{"bomb by total", build(t, file{name: "a.xml", data: zeros[:15<<20]}, file{name: "b.xml", data: zeros[:15<<20]}), Limits{MaxRatio: 1 << 30, MaxTotalSize: 20 << 20}, "oltre 20971520"},
		{"forged size", forged(t, "a.xml", zeros[:5<<20], 100), Limits{}, "corrotta"},
		{"forged small", forged(t, "a.xml", invoice, 5), Limits{}, "corrotta"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read("lotto.zip", c.data, c.lim)
			var e *Error
			if !errors.As(err, &e) || e.Code() != "00106" || !strings.Contains(e.Reason, c.reason) {
				t.Fatalf("Read = %v, want 00106 with %q", err, c.reason)
			}
			if !strings.HasPrefix(err.Error(), "lotto.zip: ") || !strings.Contains(e.Reason, "(") {
				t.Fatalf("error %q does not name the archive or lacks English", err)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add(build(f, file{name: "IT01234567890_00001.xml", data: invoice}))
	f.Add(forged(f, "a.xml", invoice, 5))
	if data, err := os.ReadFile("../../../testdata/fatturapa/samples/IT01234567890_12006.zip"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Read("fuzz.zip", data, Limits{MaxEntrySize: 1 << 20, MaxTotalSize: 4 << 20})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		for _, e := range entries {
			if strings.ContainsAny(e.Name, "/\\") || len(e.Data) > 1<<20 {
				t.Fatalf("accepted entry %q of %d bytes", e.Name, len(e.Data))
			}
		}
	})
}
