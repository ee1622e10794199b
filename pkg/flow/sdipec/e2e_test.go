package sdipec_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/passive"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/message"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim/pecfront"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// TestSdIOverPEC runs both invoice cycles between a hub with sdi.channel pec and the
// SdI simulator behind its PEC front-end, over the PEC provider simulator (real SMTP
// and IMAP with TLS, signed envelopes and receipts).
func TestSdIOverPEC(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	e := newEnv(t)
	ctx := context.Background()
	assigned := e.front.Assigned(hubBox)
	if assigned == sdi01 {
		t.Fatalf("the front-end assigned the public box %s", assigned)
	}

	t.Run("active: first PEC to sdi01, RC and NE from the assigned box, which the hub learns", func(t *testing.T) {
		if addr, err := e.module().SdIAddress(ctx); err != nil || addr != sdi01 {
			t.Fatalf("address before any answer: %q %v", addr, err)
		}
		drop(t, e.data("a", "in"), "fattura-1.xml", activeInvoice("AAAAAA", "1"))
		inv := e.submission("fattura-1.xml", active.Accettata)
		nome := inv.Header(active.HeaderNomeFile)
		in := e.frontEvent("invoice PEC at the SdI", func(ev pecfront.Event) bool { return ev.Azione == "PEC" && ev.File == nome })
		if in.Casella != sdi01 || in.Corrispondente != hubBox {
			t.Fatalf("first PEC went to %s from %s, want %s from %s", in.Casella, in.Corrispondente, sdi01, hubBox)
		}
		rf := e.frontEvent("RiceviFile", func(ev pecfront.Event) bool { return ev.Azione == "RiceviFile" && ev.File == nome })
		if string(rf.IdentificativoSdI) != inv.Header(message.HeaderIdentificativoSdI) {
			t.Fatalf("IdentificativoSdI: SdI %s, hub %s", rf.IdentificativoSdI, inv.Header(message.HeaderIdentificativoSdI))
		}
		for _, tipo := range []sdi.Tipo{sdi.RC, sdi.NE} {
			ev := e.frontEvent(string(tipo)+" sent", func(ev pecfront.Event) bool {
				return ev.Azione == "Invio" && ev.Tipo == tipo && ev.IdentificativoSdI == rf.IdentificativoSdI
			})
			if ev.Casella != assigned || ev.Corrispondente != hubBox || ev.Err != "" {
				t.Fatalf("%s from %s to %s (%s), want from %s", tipo, ev.Casella, ev.Corrispondente, ev.Err, assigned)
			}
		}
		base := strings.TrimSuffix(nome, ".xml")
		waitFile(t, e.data("a", "out", base+"_RC_001.xml"))
		waitFile(t, e.data("a", "out", base+"_NE_001.xml"))
		// The PEC to the SdI is delivered only at the provider's receipt.
		e.waitJobDone(inv.ID, sdipec.HandlerConsegna)
		if !e.hasEvent(inv.ID, message.EventDelivered, sdipec.TargetPEC, "avvenuta-consegna") {
			t.Fatalf("no delivery receipt on the timeline:\n%s", e.timeline(inv.ID))
		}
		if got := e.get(inv.ID).Header(sdipec.HeaderDestinatario); got != sdi01 {
			t.Fatalf("SdIPEC-Destinatario %q", got)
		}
		if addr, err := e.module().SdIAddress(ctx); err != nil || addr != assigned {
			t.Fatalf("address learned: %q %v, want %s", addr, err, assigned)
		}
		// The notifications keep the SdI's PEC as proof.
		for _, n := range e.messages(message.FlowActive, message.KindNotification) {
			if n.Header(active.HeaderFattura) == string(inv.ID) && !e.hasFileRole(n.ID, pecchannel.RoleEnvelope) {
				t.Fatalf("notification %s without its PEC envelope", n.FileName)
			}
		}
	})

	t.Run("active: NS, the learned address reused", func(t *testing.T) {
		drop(t, e.data("a", "in"), "fattura-2.xml", activeInvoice("EEEEEE", "2"))
		inv := e.submission("fattura-2.xml", active.Scartata)
		nome := inv.Header(active.HeaderNomeFile)
		in := e.frontEvent("invoice PEC at the SdI", func(ev pecfront.Event) bool { return ev.Azione == "PEC" && ev.File == nome })
		if in.Casella != assigned {
			t.Fatalf("second PEC went to %s, want the learned %s", in.Casella, assigned)
		}
		if !strings.Contains(inv.Header(active.HeaderErrori), "00311") {
			t.Fatalf("Errori %q", inv.Header(active.HeaderErrori))
		}
		waitFile(t, e.data("a", "out", strings.TrimSuffix(nome, ".xml")+"_NS_001.xml"))
	})

	t.Run("hub restarted: the learned address is kept", func(t *testing.T) {
		e.shutdown()
		e.start()
		if addr, err := e.module().SdIAddress(ctx); err != nil || addr != assigned {
			t.Fatalf("address after restart: %q %v, want %s", addr, err, assigned)
		}
	})

	t.Run("active: errore-consegna from the provider, the file sent again, once at the SdI", func(t *testing.T) {
		e.pec.SetFault(assigned, pecsim.Fault{Kind: pecsim.FaultErroreConsegna, Times: 1})
		drop(t, e.data("a", "in"), "fattura-3.xml", activeInvoice("DDDDDD", "3"))
		inv := e.submission("fattura-3.xml", active.Consegnata)
		nome := inv.Header(active.HeaderNomeFile)
		j := e.waitJobDone(inv.ID, sdipec.HandlerConsegna)
		if j.Attempts < 2 {
			t.Fatalf("consegna job attempts %d, want a second PEC", j.Attempts)
		}
		if !e.hasEvent(inv.ID, message.EventAttemptFailed, sdipec.TargetPEC, "errore-consegna") {
			t.Fatalf("no failure receipt on the timeline:\n%s", e.timeline(inv.ID))
		}
		n := 0
		for _, ev := range e.front.Events() {
			if ev.Azione == "RiceviFile" && ev.File == nome {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the SdI received %s %d times", nome, n)
		}
	})

	t.Run("active: MC then AT (a zip with the original), DT", func(t *testing.T) {
		drop(t, e.data("a", "in"), "fattura-4.xml", activeInvoice("CCCCCC", "4"))
		inv := e.submission("fattura-4.xml", active.Attestazione)
		base := strings.TrimSuffix(inv.Header(active.HeaderNomeFile), ".xml")
		waitFile(t, e.data("a", "out", base+"_MC_001.xml"))
		at := waitFile(t, e.data("a", "out", base+"_AT_001.zip"))
		if m, err := sdi.Parse(base+"_AT_001.zip", at); err != nil || !m.HashOriginaleOK {
			t.Fatalf("AT relayed: %v", err)
		}

		drop(t, e.data("a", "in"), "fattura-5.xml", activeInvoice("DDDDDD", "5"))
		inv = e.submission("fattura-5.xml", active.Consegnata)
		if err := e.sim.Load().FireDT(ctx, sdi.IdentificativoSdI(inv.Header(message.HeaderIdentificativoSdI))); err != nil {
			t.Fatal(err)
		}
		e.waitState(inv.ID, active.DecorrenzaTermini)
	})

	var idP1 sdi.IdentificativoSdI
	t.Run("passive: invoice by PEC with its MT, EC01 back to the box it came from, no SE", func(t *testing.T) {
		name := "IT01234567890_P0001.xml"
		data := supplierInvoice("UFA000", "P1")
		id, err := e.sim.Load().DeliverInvoice(ctx, name, data, "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		idP1 = id
		if got := waitFile(t, e.data("a", "protocollo", name)); !bytes.Equal(got, data) {
			t.Fatal("the protocol system got another file")
		}
		waitFile(t, e.data("a", "protocollo", "IT01234567890_P0001_MT_001.xml"))
		inv := e.passiveInvoice(id)
		if inv.Header(passive.HeaderSdIPEC) != assigned || inv.Ente != "a" {
			t.Fatalf("invoice: ente %q, IndirizzoPECSdI %q, want %s", inv.Ente, inv.Header(passive.HeaderSdIPEC), assigned)
		}
		if !e.hasFileRole(inv.ID, pecchannel.RoleEnvelope) {
			t.Fatal("the invoice has no PEC envelope")
		}
		drop(t, e.data("a", "esiti"), "IT01234567890_P0001_EC_001.xml", ecFile(t, id, sdi.EC01, "P1"))
		ev := e.frontEvent("EC at the SdI", func(ev pecfront.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if ev.Dettaglio != "ES01 EC01" || ev.Casella != assigned {
			t.Fatalf("EC: %s at %s (%s), want ES01 EC01 at %s", ev.Dettaglio, ev.Casella, ev.Err, assigned)
		}
		e.waitState(inv.ID, passive.EsitoInviato)
		ec := e.waitMessage("EC", message.FlowPassive, message.KindOutcome, func(m *message.Message) bool {
			return m.Header(message.HeaderIdentificativoSdI) == string(id)
		})
		e.waitJobDone(ec.ID, sdipec.HandlerConsegna)
		if ec = e.get(ec.ID); ec.State != passive.EsitoInviato || ec.Header(sdipec.HeaderDestinatario) != assigned {
			t.Fatalf("EC state %s to %q", ec.State, ec.Header(sdipec.HeaderDestinatario))
		}
		// ES01 has no message on the PEC channel: nothing comes back.
		time.Sleep(300 * time.Millisecond)
		for _, m := range e.messages(message.FlowPassive, message.KindNotification) {
			if m.Header(message.HeaderIdentificativoSdI) == string(id) {
				t.Fatalf("unexpected %s %s after an accepted EC", m.Header(message.HeaderTipoMessaggio), m.FileName)
			}
		}
		if inv := e.get(inv.ID); inv.State != passive.EsitoInviato {
			t.Fatalf("invoice state %s", inv.State)
		}
	})

	t.Run("passive: the same invoice delivered again by the SdI is kept once", func(t *testing.T) {
		if err := e.sim.Load().Redeliver(ctx, idP1); err != nil {
			t.Fatal(err)
		}
		inv := e.passiveInvoice(idP1)
		deadline := time.Now().Add(20 * time.Second)
		for !e.hasEvent(inv.ID, message.EventDuplicate, "", "") {
			if time.Now().After(deadline) {
				t.Fatalf("redelivery not recorded:\n%s", e.timeline(inv.ID))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := e.countPassive(idP1); n != 1 {
			t.Fatalf("%d passive invoices with IdentificativoSdI %s", n, idP1)
		}
	})

	t.Run("passive: EC refused by the SdI, SE by PEC", func(t *testing.T) {
		name := "IT01234567890_P0002.xml"
		id, err := e.sim.Load().DeliverInvoice(ctx, name, supplierInvoice("UFA000", "P2"), "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		waitFile(t, e.data("a", "protocollo", name))
		inv := e.passiveInvoice(id)
		e.startSim() // the SdI forgets the delivery: it refuses the EC (ES00, SE EN01)
		drop(t, e.data("a", "esiti"), "IT01234567890_P0002_EC_001.xml", ecFile(t, id, sdi.EC01, "P2"))
		ev := e.frontEvent("EC at the SdI", func(ev pecfront.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if !strings.HasPrefix(ev.Dettaglio, "ES00 EN01") {
			t.Fatalf("the SdI answered %s", ev.Dettaglio)
		}
		se := e.frontEvent("SE sent", func(ev pecfront.Event) bool {
			return ev.Azione == "Invio" && ev.Tipo == sdi.SE && ev.IdentificativoSdI == id
		})
		if se.Casella != assigned {
			t.Fatalf("SE from %s", se.Casella)
		}
		e.waitState(inv.ID, passive.EsitoScartato)
		ec := e.waitMessage("EC", message.FlowPassive, message.KindOutcome, func(m *message.Message) bool {
			return m.Header(message.HeaderIdentificativoSdI) == string(id)
		})
		e.waitState(ec.ID, passive.EsitoScartato)
		if !strings.HasPrefix(e.get(ec.ID).Header(passive.HeaderRispostaSdI), "ES00 EN01") {
			t.Fatalf("RispostaSdI %q", e.get(ec.ID).Header(passive.HeaderRispostaSdI))
		}
		seMsg := e.waitMessage("SE stored", message.FlowPassive, message.KindNotification, func(m *message.Message) bool {
			return m.Header(message.HeaderTipoMessaggio) == "SE" && m.Header(message.HeaderIdentificativoSdI) == string(id)
		})
		got := waitFile(t, filepath.Join(e.data("a", "notifiche"), seMsg.FileName))
		if m, err := sdi.Parse(seMsg.FileName, got); err != nil || m.Body.(*sdi.ScartoEsitoCommittente).Scarto != sdi.EN01 {
			t.Fatalf("SE relayed: %v", err)
		}
		if inv := e.get(inv.ID); inv.Header(passive.HeaderEsito) != "" {
			t.Fatalf("EsitoCommittente set after an SE: %q", inv.Header(passive.HeaderEsito))
		}
	})

	t.Run("passive: DT by PEC", func(t *testing.T) {
		name := "IT01234567890_P0003.xml"
		id, err := e.sim.Load().DeliverInvoice(ctx, name, supplierInvoice("UFA000", "P3"), "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		waitFile(t, e.data("a", "protocollo", name))
		inv := e.passiveInvoice(id)
		if err := e.sim.Load().FireDT(ctx, id); err != nil {
			t.Fatal(err)
		}
		e.waitState(inv.ID, passive.DecorrenzaTermini)
		waitFile(t, e.data("a", "notifiche", "IT01234567890_P0003_DT_001.xml"))
	})

	t.Run("mailbox restored from a backup: every SdI PEC handed over again, nothing stored twice", func(t *testing.T) {
		counts := func() map[string]int {
			c := map[string]int{}
			for _, fk := range [][2]string{{"passive", "invoice"}, {"passive", "notification"}, {"passive", "outcome"}, {"active", "notification"}} {
				c[fk[0]+"/"+fk[1]] = len(e.messages(message.Flow(fk[0]), message.Kind(fk[1])))
			}
			return c
		}
		before := counts()
		if err := e.pec.ResetUIDValidity(hubBox); err != nil {
			t.Fatal(err)
		}
		// A new invoice behind the old ones: once it is stored, the reader went past them.
		name := "IT01234567890_P0004.xml"
		id, err := e.sim.Load().DeliverInvoice(ctx, name, supplierInvoice("UFA000", "P4"), "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		e.passiveInvoice(id)
		after := counts()
		before["passive/invoice"]++
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s: %d messages, want %d", k, after[k], v)
			}
		}
	})

	t.Run("a file beyond the PEC limit is refused before sending", func(t *testing.T) {
		sent := e.pec.Stats().Submitted
		big := bytes.Repeat([]byte("A"), 23_000_000)
		_, err := e.module().SendInvoice(ctx, "IT80012345676_ZZZ01.xml", big)
		if err == nil || !channel.IsPermanent(err) {
			t.Fatalf("err %v, want a permanent refusal", err)
		}
		for _, want := range []string{"IT80012345676_ZZZ01.xml", "30000000", "oltre il limite"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if got := e.pec.Stats().Submitted; got != sent {
			t.Fatalf("%d PECs submitted to the provider", got-sent)
		}
	})
}

func (e *env) get(id message.ID) *message.Message {
	e.t.Helper()
	m, err := e.store().Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) hasFileRole(id message.ID, role string) bool {
	files, _ := e.store().Files(context.Background(), id)
	for _, f := range files {
		if f.Role == role {
			return true
		}
	}
	return false
}

func (e *env) countPassive(id sdi.IdentificativoSdI) int {
	n := 0
	for _, m := range e.messages(message.FlowPassive, message.KindInvoice) {
		if m.Header(message.HeaderIdentificativoSdI) == string(id) {
			n++
		}
	}
	return n
}

// TestSdIOverPECPostgres: the address learned and the invoice's round trip with the
// store on PostgreSQL (the module's own table included).
func TestSdIOverPECPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL run")
	}
	dsn := storetest.NewPostgresSchema(t)
	e := newEnvWith(t, envOptions{storeYAML: fmt.Sprintf("store: {driver: postgres, dsn: %q}", dsn)})
	if e.store().Dialect() != store.Postgres {
		t.Fatal("not on PostgreSQL")
	}
	ctx := context.Background()
	assigned := e.front.Assigned(hubBox)
	for i, code := range []string{"AAAAAA", "EEEEEE"} {
		name := fmt.Sprintf("fattura-%d.xml", i+1)
		drop(t, e.data("a", "in"), name, activeInvoice(code, fmt.Sprint(i+1)))
		want := map[string]message.State{"AAAAAA": active.Accettata, "EEEEEE": active.Scartata}[code]
		inv := e.submission(name, want)
		nome := inv.Header(active.HeaderNomeFile)
		in := e.frontEvent("PEC at the SdI", func(ev pecfront.Event) bool { return ev.Azione == "PEC" && ev.File == nome })
		if wantBox := map[int]string{0: sdi01, 1: assigned}[i]; in.Casella != wantBox {
			t.Fatalf("%s went to %s, want %s", name, in.Casella, wantBox)
		}
		e.waitJobDone(inv.ID, sdipec.HandlerConsegna)
	}
	if addr, err := e.module().SdIAddress(ctx); err != nil || addr != assigned {
		t.Fatalf("address %q %v", addr, err)
	}
	id, err := e.sim.Load().DeliverInvoice(ctx, "IT01234567890_Q0001.xml", supplierInvoice("UFA000", "Q1"), "UFA000")
	if err != nil {
		t.Fatal(err)
	}
	if inv := e.passiveInvoice(id); inv.Header(passive.HeaderSdIPEC) != assigned {
		t.Fatalf("IndirizzoPECSdI %q", inv.Header(passive.HeaderSdIPEC))
	}
}
