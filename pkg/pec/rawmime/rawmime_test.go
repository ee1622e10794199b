package rawmime

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const signedLF = `From: a@example.it
Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="OUT"

preamble
--OUT
Content-Type: multipart/mixed; boundary="IN"

--IN
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

caff=E8
--IN
Content-Type: message/rfc822; name="postacert.eml"

Subject: inner
Content-Type: multipart/mixed; boundary=X

--X
Content-Type: text/plain

ciao
--X
Content-Type: application/xml; name="IT01234567890_00001.xml"
Content-Disposition: attachment; filename="IT01234567890_00001.xml"
Content-Transfer-Encoding: base64

PGE+PC9hPg==
--X--
--IN--

--OUT
Content-Type: application/pkcs7-signature; name=smime.p7s
Content-Transfer-Encoding: base64

AAEC
--OUT--
epilogue
`

func TestParseStructure(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"LF", signedLF},
		{"CRLF", crlf(signedLF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := Parse([]byte(tc.in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if root.MediaType != "multipart/signed" || len(root.Parts) != 2 {
				t.Fatalf("root %s with %d parts", root.MediaType, len(root.Parts))
			}
			signed := root.Parts[0]
			// The signed content is exactly the bytes between the first delimiter line and
			// the line ending before the second one.
			in := tc.in
			start := strings.Index(in, "--OUT") + len("--OUT")
			start += strings.Index(in[start:], "\n") + 1
			end := strings.Index(in[start:], "--OUT") + start
			want := strings.TrimSuffix(strings.TrimSuffix(in[start:end], "\n"), "\r")
			if string(signed.Raw) != want {
				t.Fatalf("signed part raw bytes differ:\n%q\nwant\n%q", signed.Raw, want)
			}
			if signed.MediaType != "multipart/mixed" || len(signed.Parts) != 2 {
				t.Fatalf("signed part %s with %d parts", signed.MediaType, len(signed.Parts))
			}
			txt, err := signed.Parts[0].Text()
			if err != nil || txt != "caffè" {
				t.Fatalf("text %q, %v", txt, err)
			}
			pc := signed.Parts[1]
			if pc.Message == nil {
				t.Fatal("message/rfc822 not parsed")
			}
			if got := pc.Message.Header.Get("Subject"); got != "inner" {
				t.Fatalf("inner subject %q", got)
			}
			if len(pc.Message.Parts) != 2 || pc.Message.Parts[1].Path != "1.2.2" {
				t.Fatalf("inner parts %d, path %q", len(pc.Message.Parts), pc.Message.Parts[1].Path)
			}
			att := pc.Message.Parts[1]
			if att.FileName() != "IT01234567890_00001.xml" || att.Disposition() != "attachment" {
				t.Fatalf("attachment name %q disposition %q", att.FileName(), att.Disposition())
			}
			b, err := att.Decoded()
			if err != nil || string(b) != "<a></a>" {
				t.Fatalf("attachment %q, %v", b, err)
			}
			sig, err := root.Parts[1].Decoded()
			if err != nil || !bytes.Equal(sig, []byte{0, 1, 2}) {
				t.Fatalf("signature %v, %v", sig, err)
			}
			for _, p := range []*Part{root, signed, pc, pc.Message} {
				if len(p.Defects) != 0 {
					t.Errorf("part %q: unexpected defects %v", p.Path, p.Defects)
				}
			}
		})
	}
}

func TestParseTolerances(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		defect     string // substring expected among the root's (or first child's) defects
		check      func(t *testing.T, p *Part)
		childLevel bool
	}{
		{
			name:   "missing closing boundary",
			in:     "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nuno\n--B\n\ndue\n",
			defect: "closing boundary",
			check: func(t *testing.T, p *Part) {
				if len(p.Parts) != 2 || string(p.Parts[1].Body) != "due\n" {
					t.Fatalf("parts %d, last body %q", len(p.Parts), p.Parts[len(p.Parts)-1].Body)
				}
			},
		},
		{
			name:   "mbox From line",
			in:     "From someone Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody",
			defect: "mbox",
			check: func(t *testing.T, p *Part) {
				if p.Header.Get("Subject") != "x" {
					t.Fatalf("subject %q", p.Header.Get("Subject"))
				}
			},
		},
		{
			name:   "header line without colon",
			in:     "Subject: x\nthis is not a header\nFrom: a@b.it\n\nbody",
			defect: "invalid header line",
			check: func(t *testing.T, p *Part) {
				if p.Header.Get("From") != "a@b.it" {
					t.Fatalf("from %q", p.Header.Get("From"))
				}
			},
		},
		{
			name:   "multipart without boundary",
			in:     "Content-Type: multipart/mixed\n\nwhatever",
			defect: "without boundary",
		},
		{
			name: "boundary that prefixes a longer line is not a delimiter",
			in:   "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\n--abc is text\n--ab--\n",
			check: func(t *testing.T, p *Part) {
				if len(p.Parts) != 1 || string(p.Parts[0].Body) != "--abc is text" {
					t.Fatalf("parts %d body %q", len(p.Parts), p.Parts[0].Body)
				}
			},
		},
		{
			name: "delimiter not at line start is text",
			in:   "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx --ab\n--ab--\n",
			check: func(t *testing.T, p *Part) {
				if len(p.Parts) != 1 || string(p.Parts[0].Body) != "x --ab" {
					t.Fatalf("parts %d body %q", len(p.Parts), p.Parts[0].Body)
				}
			},
		},
		{
			name: "base64 enclosed message",
			in:   "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogaGkKCmJvZHk=\n",
			check: func(t *testing.T, p *Part) {
				if p.Message == nil || p.Message.Header.Get("Subject") != "hi" {
					t.Fatalf("enclosed message not decoded: %+v", p.Message)
				}
			},
		},
		{
			name:   "unreadable content type",
			in:     "Content-Type: ;;;\n\nx",
			defect: "unreadable Content-Type",
			check: func(t *testing.T, p *Part) {
				if p.MediaType != "application/octet-stream" {
					t.Fatalf("media type %q", p.MediaType)
				}
			},
		},
		{
			name: "lenient parameters",
			in:   "Content-Type: application/pdf; name=fattura marzo.pdf; name=other\n\nx",
			check: func(t *testing.T, p *Part) {
				if p.MediaType != "application/pdf" || p.FileName() != "fattura marzo.pdf" {
					t.Fatalf("media type %q name %q", p.MediaType, p.FileName())
				}
			},
		},
		{
			name: "RFC 2047 and RFC 2231 file names",
			in:   "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?caff=C3=A8.xml?=\"\n\nx\n--b\nContent-Disposition: attachment; filename*=UTF-8''perch%C3%A9.xml\n\ny\n--b--",
			check: func(t *testing.T, p *Part) {
				if p.Parts[0].FileName() != "caffè.xml" || p.Parts[1].FileName() != "perché.xml" {
					t.Fatalf("names %q %q", p.Parts[0].FileName(), p.Parts[1].FileName())
				}
			},
		},
		{
			name: "no body",
			in:   "Subject: only a header",
			check: func(t *testing.T, p *Part) {
				if len(p.Body) != 0 || p.Header.Get("Subject") != "only a header" {
					t.Fatalf("body %q subject %q", p.Body, p.Header.Get("Subject"))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.defect != "" {
				if !strings.Contains(strings.Join(p.Defects, "|"), tc.defect) {
					t.Fatalf("defects %q lack %q", p.Defects, tc.defect)
				}
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func nested(depth int) string {
	var b strings.Builder
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("\nleaf\n")
	return b.String()
}

func TestLimits(t *testing.T) {
	many := "Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\nx\n", 50) + "--b--\n"
	rfc822 := strings.Repeat("Content-Type: message/rfc822\n\n", 40) + "body"
	for _, tc := range []struct {
		name string
		in   string
		lim  Limits
		want error
	}{
		{"nested multipart bomb", nested(200), Limits{}, ErrTooDeep},
		{"nested enclosed messages", rfc822, Limits{}, ErrTooDeep},
		{"within depth", nested(10), Limits{}, nil},
		{"too many parts", many, Limits{MaxParts: 20}, ErrTooManyParts},
		{"parts within limit", many, Limits{}, nil},
		{"empty", " \r\n", Limits{}, ErrEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "(") {
				t.Fatalf("error %q lacks the bilingual reason", err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		enc, in, want string
		fail          bool
	}{
		{"base64", "aGVs\r\nbG8=", "hello", false},
		{"BASE64", "aGVsbG8", "hello", false}, // missing padding
		{"base64", "aGV sbG8=\n", "hello", false},
		{"base64", "aGVs!bG8=", "", true},
		{"base64", "aGVsbG8=aGVs", "", true},
		{"base64", "aGVsb", "", true},
		{"quoted-printable", "caff=E8=\r\n!", "caff\xe8!", false},
		{"7bit", "x", "x", false},
		{"x-uuencode", "x", "", true},
	} {
		got, err := Decode(tc.enc, []byte(tc.in))
		if (err != nil) != tc.fail || (!tc.fail && string(got) != tc.want) {
			t.Errorf("Decode(%q, %q) = %q, %v", tc.enc, tc.in, got, err)
		}
	}
}

// FuzzParse: Parse must never panic or hang, and every part's raw bytes must be a
// header, a separator and its body.
func FuzzParse(f *testing.F) {
	f.Add([]byte(signedLF))
	f.Add([]byte(crlf(signedLF)))
	f.Add([]byte(nested(30)))
	f.Add([]byte("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogaGkKCmJvZHk=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Parse(data, Limits{MaxDepth: 8, MaxParts: 64})
		if err != nil {
			return
		}
		var check func(p *Part)
		check = func(p *Part) {
			if len(p.HeaderRaw)+len(p.Body) > len(p.Raw) {
				t.Fatalf("part %q: header %d + body %d > raw %d", p.Path, len(p.HeaderRaw), len(p.Body), len(p.Raw))
			}
			if !bytes.HasSuffix(p.Raw, p.Body) || !bytes.HasPrefix(p.Raw, p.HeaderRaw) {
				t.Fatalf("part %q: raw is not header+body", p.Path)
			}
			_, _ = p.Text()
			_ = p.FileName()
			for _, c := range p.Parts {
				check(c)
			}
			if p.Message != nil {
				check(p.Message)
			}
		}
		check(root)
	})
}

// TestLongHeaders: a field with a huge number of continuation lines, and many bad
// lines, are read in linear time with a bounded list of defects.
func TestLongHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: inizio\r\n")
	for range 200000 {
		b.WriteString("\tcontinua\r\n")
	}
	for range 100000 {
		b.WriteString("riga senza due punti\r\n")
	}
	b.WriteString("From: a@b.it\r\n\r\ncorpo")
	p, err := Parse([]byte(b.String()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Header.Get("Subject"), "inizio continua continua") || p.Header.Get("From") != "a@b.it" || string(p.Body) != "corpo" {
		t.Fatalf("subject %.40q from %q body %q", p.Header.Get("Subject"), p.Header.Get("From"), p.Body)
	}
	if len(p.Defects) > 20 {
		t.Fatalf("%d defects recorded", len(p.Defects))
	}
}
