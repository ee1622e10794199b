package sdipec_test

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"snodo/pkg/flow/active"
	"snodo/pkg/message"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
)

// sendPEC sends a PEC from box to the hub's SdI mailbox through the provider.
func (e *env) sendPEC(from, subject string, files ...compose.Attachment) {
	e.t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: from, To: []string{hubBox}, Subject: subject, Text: "prova", Attachments: files})
	if err != nil {
		e.t.Fatal(err)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: e.pec.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: e.pec.ClientTLS(), Username: from, Password: pecPass}}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := sub.Submit(context.Background(), raw); err != nil {
		e.t.Fatal(err)
	}
}

// quarantined returns the subjects of the messages in the hub mailbox's quarantine.
func (e *env) quarantined() []string {
	e.t.Helper()
	c, err := imapclient.DialTLS(e.pec.IMAPAddr(), &imapclient.Options{TLSConfig: e.pec.ClientTLS()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(hubBox, pecPass).Wait(); err != nil {
		e.t.Fatal(err)
	}
	sel, err := c.Select("Quarantena", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil || sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(seq(sel.NumMessages)...), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Envelope.Subject)
	}
	return out
}

func seq(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

// TestSdIMailboxHostile: what is not an SdI message in the hub's SdI mailbox is set
// aside with its reason, never stored as one, and the reader goes on.
func TestSdIMailboxHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	e := newEnv(t)
	const stranger = "chiunque@pec.altro.example"
	if err := e.pec.AddMailbox(stranger, pecPass); err != nil {
		t.Fatal(err)
	}
	invoice := compose.Attachment{Name: "IT01234567890_H0001.xml", Data: supplierInvoice("UFA000", "H1")}
	e.sendPEC(stranger, "Invio File 123456", invoice)
	e.sendPEC(sdi01, "Invio File 123457")
	e.sendPEC(sdi01, "Ricevuta di consegna", compose.Attachment{Name: "IT80012345676_00009_RC_001.xml", Data: []byte("<rotto")})
	e.sendPEC(sdi01, "Notifica esito 123458", compose.Attachment{Name: "IT80012345676_00009_EC_001.xml", Data: []byte("<x/>")})
	// An unreadable RC whose subject names the invoice is kept, as SDICoop keeps it.
	e.sendPEC(sdi01, "Ricevuta di consegna 123459", compose.Attachment{Name: "IT80012345676_00009_RC_001.xml", Data: []byte("<rotto")})
	// Ordinary mail, not certified.
	if err := e.pec.Deliver(hubBox, []byte("From: a@b.example\r\nTo: "+hubBox+"\r\nSubject: posta ordinaria\r\nMessage-ID: <x1@b.example>\r\n\r\nciao\r\n")); err != nil {
		t.Fatal(err)
	}

	kept := e.waitMessage("unreadable RC kept", message.FlowActive, message.KindNotification, func(m *message.Message) bool {
		return m.Header(message.HeaderIdentificativoSdI) == "123459"
	})
	if !e.hasEvent(kept.ID, message.EventNote, "", "illeggibile") {
		t.Fatalf("no unreadable note:\n%s", e.timeline(kept.ID))
	}
	e.waitState(kept.ID, active.NotificaNonCorrelata)
	want := []string{"POSTA CERTIFICATA: Invio File 123456", "POSTA CERTIFICATA: Invio File 123457", "POSTA CERTIFICATA: Ricevuta di consegna",
		"POSTA CERTIFICATA: Notifica esito 123458", "posta ordinaria"}
	missing := func(got []string) []string {
		var out []string
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w // the original; its note is "QUARANTENA: " + subject
			}
			if !found {
				out = append(out, w)
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	got := e.quarantined()
	for len(missing(got)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = e.quarantined()
	}
	if m := missing(got); len(m) > 0 {
		t.Errorf("not quarantined: %q (quarantine: %q)", m, got)
	}
	if n := len(e.messages(message.FlowPassive, message.KindInvoice)); n != 0 {
		t.Fatalf("%d passive invoices stored from hostile mail", n)
	}
	// The reader goes on: a real SdI delivery still arrives.
	id, err := e.sim.Load().DeliverInvoice(context.Background(), "IT01234567890_H0002.xml", supplierInvoice("UFA000", "H2"), "UFA000")
	if err != nil {
		t.Fatal(err)
	}
	e.passiveInvoice(id)
}
