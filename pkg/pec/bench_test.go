package pec_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/emersion/go-message"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/pec/rawmime"
)

// BenchmarkParse reads one busta di trasporto carrying a 20 KB invoice: "pec" is the
// whole Parse (MIME tree, signature verified against the trust store, daticert,
// postacert.eml and its attachments, cross-checks); "rawmime" the MIME split alone;
// "go-message" the baseline: go-message reading the same message and every body of
// its top-level tree (no signature, no daticert, no descent into postacert.eml).
func BenchmarkParse(b *testing.B) {
	p, trust := pectest.Provider(b, "pec.gestore.example")
	inv := bytes.Repeat([]byte("<DettaglioLinee><Descrizione>servizio</Descrizione></DettaglioLinee>\n"), 300)
	raw, _, err := compose.Build(compose.Mail{From: "a@pec.example.it", To: []string{"b@pec.example.it"}, Subject: "s", Text: "t",
		Attachments: []compose.Attachment{{Name: "IT01234567890_00001.xml", Data: inv}}})
	if err != nil {
		b.Fatal(err)
	}
	o := pectest.Original(b, "a@pec.example.it", "b@pec.example.it")
	o.Raw = raw
	env, err := p.Envelope(o, p.NewIdentificativo())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("pec", func(b *testing.B) {
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			if _, err := pec.Parse("bench", env, pec.Options{Trust: trust}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rawmime", func(b *testing.B) {
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			if _, err := rawmime.Parse(env, rawmime.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-message", func(b *testing.B) {
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			m, err := message.Read(bytes.NewReader(env))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Walk(func(_ []int, e *message.Entity, err error) error {
				if err != nil {
					return err
				}
				if e.MultipartReader() != nil {
					return nil // its parts come next; reading it here would consume them
				}
				_, err = io.Copy(io.Discard, e.Body)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
