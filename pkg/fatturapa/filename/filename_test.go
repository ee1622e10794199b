package filename

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseInvoice(t *testing.T) {
	cases := []struct {
		name    string
		want    Invoice
		wantErr string // part of the reason; "" = valid
	}{
		{"IT01234567890_FPA01.xml", Invoice{"IT", "01234567890", "FPA01", ExtXML}, ""},
		{"IT01234567890_11111.xml.p7m", Invoice{"IT", "01234567890", "11111", ExtP7M}, ""},
		{"IT01234567890_11111.XML.P7M", Invoice{"IT", "01234567890", "11111", ExtP7M}, ""},
		{"IT01234567890_12006.zip", Invoice{"IT", "01234567890", "12006", ExtZIP}, ""},
		{"ITAAABBB00C11D222E_12001.xml", Invoice{"IT", "AAABBB00C11D222E", "12001", ExtXML}, ""},
		{"ITAAABBB99T99X999W_00001.xml", Invoice{"IT", "AAABBB99T99X999W", "00001", ExtXML}, ""},
		{"DE123456789_1.xml", Invoice{"DE", "123456789", "1", ExtXML}, ""},
		{"FRAB_a1.xml", Invoice{"FR", "AB", "a1", ExtXML}, ""},
		{"IT0123456789_00001.xml", Invoice{}, "per IT ne servono da 11 a 16"},
		{"IT01234567890123456_00001.xml", Invoice{}, "per IT ne servono da 11 a 16"},
		{"DEA_00001.xml", Invoice{}, "da 2 a 28"},
		{"IT01234567890_000001.xml", Invoice{}, "progressivo"},
		{"IT01234567890_.xml", Invoice{}, "progressivo"},
		{"IT01234567890-00001.xml", Invoice{}, "carattere '-'"},
		{"IT01234567890_00001.pdf", Invoice{}, "estensione"},
		{"IT01234567890_00001.p7m", Invoice{}, "estensione"},
		{"IT01234567890_00001", Invoice{}, "estensione"},
		{"it01234567890_00001.xml", Invoice{}, "codice paese"},
		{"ZZ01234567890_00001.xml", Invoice{}, "ISO 3166"},
		{"IT01234567890_0000_1.xml", Invoice{}, "un solo '_'"},
		{"IT01234567890.00001.xml", Invoice{}, "separatore"},
		{"IT012345678.90_00001.xml", Invoice{}, "'.'"},
		{"../IT01234567890_00001.xml", Invoice{}, "carattere '/'"},
		{"/etc/IT01234567890_00001.xml", Invoice{}, "carattere '/'"},
		{"IT01234567890_0000\x00.xml", Invoice{}, "carattere '\\x00'"},
		{"IT01234567890_àèìòù.xml", Invoice{}, "non ammesso"},
		{"", Invoice{}, "vuoto"},
		{".xml", Invoice{}, "estensione"},
		{"IT" + strings.Repeat("1", 50) + "_1.xml", Invoice{}, "oltre il massimo di 50"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseInvoice(c.name)
			if c.wantErr == "" {
				if err != nil || got != c.want {
					t.Fatalf("ParseInvoice = %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code() != "00001" || !strings.Contains(e.Reason, c.wantErr) {
				t.Fatalf("ParseInvoice err = %v, want 00001 mentioning %q", err, c.wantErr)
			}
			if !strings.Contains(e.Reason, "(") {
				t.Errorf("reason %q lacks the English part", e.Reason)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	cases := []struct {
		name, tipo, wantErr string
	}{
		{"IT01234567890_11111_RC_001.xml", "RC", ""},
		{"IT01234567890_11111_AT_001.zip", "AT", ""},
		{"IT01234567890_11111_AT_001.xml", "AT", ""},
		{"ITHVQWPH73P42H501Y_00022_NS_a1Z.xml", "NS", ""},
		{"IT01234567890_11111_XX_001.xml", "", "tipo messaggio"},
		{"IT01234567890_11111_RC_01.xml", "", "progressivo del messaggio"},
		{"IT01234567890_11111_RC_001.zip", "", "solo l'attestazione AT"},
		{"IT01234567890_11111_RC_001.xml.p7m", "", "estensione"},
		{"IT01234567890_11111_RC.xml", "", "<IdPaese><IdCodice>_<progressivo>_<tipo>_<nnn>"},
		{"IT0123_11111_RC_001.xml", "", "da 11 a 16"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseMessage(c.name)
			if c.wantErr == "" {
				if err != nil || m.Tipo != c.tipo || m.String() != c.name {
					t.Fatalf("ParseMessage = %+v (%s), %v", m, m.String(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("ParseMessage err = %v, want %q", err, c.wantErr)
			}
		})
	}
	if !IsMessage("IT01234567890_11111_RC_001.xml") || IsMessage("IT01234567890_11111.xml") {
		t.Error("IsMessage misclassifies")
	}
}

// TestOfficialSampleNames parses the names of the official sample invoices (a copy in
// testdata) and of the official sample messages (listed: their files live elsewhere).
func TestOfficialSampleNames(t *testing.T) {
	root := "../../../testdata/fatturapa/samples"
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "README.md" {
			return err
		}
		n++
		if _, err := ParseInvoice(d.Name()); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil || n < 13 {
		t.Fatalf("walk %s: %v (%d files)", root, err, n)
	}
	messages := []string{
		"IT01234567890_11111_AT_001.xml", "IT01234567890_11111_AT_001.zip", "IT01234567890_11111_DT_001.xml",
		"IT01234567890_11111_EC_001.xml", "IT01234567890_11111_MC_001.xml", "IT01234567890_11111_MT_001.xml",
		"IT01234567890_11111_NE_001.xml", "IT01234567890_11111_NS_001.xml", "IT01234567890_11111_RC_001.xml",
		"IT01234567890_11111_SE_001.xml", "IT01234567890_11112_EC_001.xml", "IT01234567890_12001_MT_001.xml",
		"ITHVQWPH73P42H501Y_00022_MC_001.xml", "ITHVQWPH73P42H501Y_00022_MT_001.xml",
		"ITHVQWPH73P42H501Y_00022_NS_001.xml", "ITHVQWPH73P42H501Y_00022_RC_001.xml",
	}
	for _, m := range messages {
		if !IsMessage(m) {
			t.Errorf("%s: not recognised as a message", m)
		}
		if _, err := ParseMessage(m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestBuildNames(t *testing.T) {
	name, err := InvoiceName("IT", "01234567890", "0000A", ".XML")
	if err != nil || name != "IT01234567890_0000A.xml" {
		t.Fatalf("InvoiceName = %q, %v", name, err)
	}
	if _, err := InvoiceName("IT", "0123", "00001", ExtXML); err == nil {
		t.Fatal("InvoiceName accepted a short IdCodice")
	}
	msg, err := MessageName("IT01234567890_11111.xml.p7m", "EC", 1)
	if err != nil || msg != "IT01234567890_11111_EC_001.xml" {
		t.Fatalf("MessageName = %q, %v", msg, err)
	}
	at, err := MessageName("IT01234567890_11111", "AT", 7)
	if err != nil || at != "IT01234567890_11111_AT_007.zip" {
		t.Fatalf("MessageName AT = %q, %v", at, err)
	}
	if _, err := MessageName("IT01234567890_11111.xml", "ZZ", 1); err == nil {
		t.Fatal("MessageName accepted type ZZ")
	}
	if _, err := MessageName("IT01234567890_11111.xml", "EC", 1000); err == nil {
		t.Fatal("MessageName accepted 1000")
	}
}

func TestProgressivo(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "00000"}, {1, "00001"}, {42, "00042"}, {99999, "99999"},
		{100000, "0000A"}, {100001, "0000B"}, {100025, "0000Z"}, {100026, "0001A"},
		{ProgressivoSpace - 1, "ZZZZZ"},
	}
	for _, c := range cases {
		got, err := Progressivo(c.n)
		if err != nil || got != c.want {
			t.Errorf("Progressivo(%d) = %q, %v; want %q", c.n, got, err, c.want)
		}
		back, err := ProgressivoCounter(got)
		if err != nil || back != c.n {
			t.Errorf("ProgressivoCounter(%q) = %d, %v; want %d", got, back, err, c.n)
		}
		if _, err := InvoiceName("IT", "01234567890", got, ExtXML); err != nil {
			t.Errorf("progressive %q not a valid name part: %v", got, err)
		}
	}
	for _, n := range []int64{-1, ProgressivoSpace} {
		if _, err := Progressivo(n); !errors.Is(err, ErrProgressivoExhausted) {
			t.Errorf("Progressivo(%d) err = %v", n, err)
		}
	}
	for _, p := range []string{"0000", "0000a", "0000-"} {
		if _, err := ProgressivoCounter(p); err == nil {
			t.Errorf("ProgressivoCounter(%q) accepted", p)
		}
	}
}

// TestProgressivoNeverRepeats walks windows of the counter space, where the mapping
// changes regime, and checks order and uniqueness.
func TestProgressivoNeverRepeats(t *testing.T) {
	seen := map[string]int64{}
	windows := [][2]int64{{0, 2000}, {98000, 140000}, {ProgressivoSpace/2 - 5000, ProgressivoSpace/2 + 5000}, {ProgressivoSpace - 3000, ProgressivoSpace}}
	for _, w := range windows {
		prev := ""
		for n := w[0]; n < w[1]; n++ {
			p, err := Progressivo(n)
			if err != nil {
				t.Fatalf("Progressivo(%d): %v", n, err)
			}
			if m, dup := seen[p]; dup {
				t.Fatalf("Progressivo(%d) = %q, already produced for %d", n, p, m)
			}
			seen[p] = n
			if n > decimalSpan && n > w[0] && p <= prev {
				t.Fatalf("Progressivo(%d) = %q not after %q", n, p, prev)
			}
			prev = p
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"IT01234567890_00001.xml", "IT01234567890_11111_RC_001.xml", "../x.zip", "IT_.xml.p7m", "ITx_1.XML"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if inv, err := ParseInvoice(name); err == nil {
			if len(name) > MaxLen || strings.ContainsAny(name, "/\\\x00") {
				t.Fatalf("accepted %q", name)
			}
			again, err := ParseInvoice(inv.String())
			if err != nil || again != inv {
				t.Fatalf("round trip of %q: %+v %v", name, again, err)
			}
		}
		if m, err := ParseMessage(name); err == nil {
			if _, err := ParseMessage(m.String()); err != nil {
				t.Fatalf("round trip of %q: %v", name, err)
			}
		}
	})
}
