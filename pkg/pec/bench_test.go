package pec_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/pec/rawmime"
)

// BenchmarkParse reads one busta di trasporto carrying a 20 KB invoice, three ways:
// "pec" is the whole Parse (MIME tree, signature verified against the trust store,
// daticert, postacert.eml and its attachments, cross-checks); "rawmime" the MIME split
// alone; "go-message" the baseline: go-message reading the same message and every body
// of its top-level tree (no signature, no daticert, no descent into postacert.eml).
// b.N counts parses per way; metrics: µs per parse for each, and the ratios.
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
	ways := []struct {
		name string
		fn   func() error
	}{
		{"pec", func() error { _, err := pec.Parse("bench", env, pec.Options{Trust: trust}); return err }},
		{"rawmime", func() error { _, err := rawmime.Parse(env, rawmime.Limits{}); return err }},
		{"go-message", func() error {
			m, err := message.Read(bytes.NewReader(env))
			if err != nil {
				return err
			}
			return m.Walk(func(_ []int, e *message.Entity, err error) error {
				if err != nil {
					return err
				}
				if e.MultipartReader() != nil {
					return nil // its parts come next; reading it here would consume them
				}
				_, err = io.Copy(io.Discard, e.Body)
				return err
			})
		}},
	}
	// Interleaved in 10 rounds so that every way sees the same machine load.
	const rounds = 10
	per := max(b.N/rounds, 1)
	took := make([]time.Duration, len(ways))
	b.SetBytes(int64(len(env)))
	for range rounds {
		for i, w := range ways {
			start := time.Now()
			for range per {
				if err := w.fn(); err != nil {
					b.Fatalf("%s: %v", w.name, err)
				}
			}
			took[i] += time.Since(start)
		}
	}
	n := float64(per * rounds)
	for i, w := range ways {
		b.ReportMetric(float64(took[i].Microseconds())/n, w.name+"-µs/op")
	}
	b.ReportMetric(took[0].Seconds()/took[2].Seconds(), "pec/go-message")
	b.ReportMetric(took[1].Seconds()/took[2].Seconds(), "rawmime/go-message")
}
