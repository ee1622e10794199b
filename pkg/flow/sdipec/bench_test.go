package sdipec_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
)

// BenchmarkInvoiceToJournal measures how long an invoice the SdI delivers takes to be
// committed in the hub's journal: by PEC (SdI simulator → PEC front-end → SMTP to the
// PEC provider simulator → IMAP IDLE → the hub's SdI mailbox reader → the passive
// module), beside the baseline of the same hub's RicezioneFatture over SDICoop (one
// SOAP call answered after the commit). Sequential, one invoice at a time.
func BenchmarkInvoiceToJournal(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	data := supplierInvoice("UFA000", "B1")
	stored := func(b *testing.B, id sdi.IdentificativoSdI) {
		for {
			ids, err := e.store().FindByKey(ctx, flowkit.SdIKey(string(id)))
			if err != nil {
				b.Fatal(err)
			}
			if len(ids) > 0 {
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	b.Run("sdicoop", func(b *testing.B) {
		s, err := sim.New(sim.Config{FirstID: 9000000001, RicezioneURL: "http://" + e.hub().Addr("http") + "/sdi/RicezioneFatture",
			HTTP: &http.Client{Timeout: 30 * time.Second}, Timing: fastTiming})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			id, err := s.DeliverInvoice(ctx, fmt.Sprintf("IT01234567890_S%04d.xml", i%10000), data, "UFA000")
			if err != nil {
				b.Fatal(err)
			}
			stored(b, id)
		}
	})
	b.Run("pec", func(b *testing.B) {
		s := e.sim.Load()
		for i := 0; b.Loop(); i++ {
			id, err := s.DeliverInvoice(ctx, fmt.Sprintf("IT01234567890_P%04d.xml", i%10000), data, "UFA000")
			if err != nil {
				b.Fatal(err)
			}
			stored(b, id)
		}
	})
}

// BenchmarkClassify measures reading an SdI PEC's content (the invoice's MT, or one
// notification) beside the baseline of parsing that SdI file alone with sdi.Parse.
func BenchmarkClassify(b *testing.B) {
	mt := mustMarshal(b, &sdi.MetadatiInvioFile{IdentificativoSdI: "5000000042", NomeFile: "IT01234567890_C0001.xml", CodiceDestinatario: "UFA000",
		Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
	in := inbound("Invio File 5000000042", "IT01234567890_C0001.xml", supplierInvoice("UFA000", "C1"),
		message.File{Name: "IT01234567890_C0001_MT_001.xml", Role: message.RoleMetadata, Data: mt})
	b.Run("sdi.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := sdi.Parse("IT01234567890_C0001_MT_001.xml", mt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Classify", func(b *testing.B) {
		for b.Loop() {
			if _, err := sdipec.Classify(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
