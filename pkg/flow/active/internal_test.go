package active_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"snodo/pkg/flow/active"
	"snodo/pkg/flow/passive"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
)

// internalRoute is an ente with both cycles on folders under data/<id>.
func internalRoute(id, piva, office string) string {
	return enteRoute(id, piva, office, "") + fmt.Sprintf(`passive:
  protocol: {channel: fs, url: "file:%s/protocollo"}
  notifications: {channel: fs, url: "file:%s/notifiche"}
  outcome: {channel: fs, url: "file:%s/esiti", settings: {poll: 20ms, min_age: 1ms}}
`, id, id, id)
}

// TestInternalInvoice: ente a issues an invoice to an office of ente b, both served by
// this hub. It still goes through the SdI, which delivers it to the hub's
// RicezioneFatture (passive cycle of b); b accepts it (EC01), the SdI tells a (NE), and
// both sides end coherent: a's invoice accettata, b's esito-accettato, linked by
// CorrelationID sdi:<IdentificativoSdI>.
func TestInternalInvoice(t *testing.T) {
	timing := fastTiming
	timing.DT, timing.AT = time.Hour, time.Hour
	e := newEnv(t, envOptions{
		routes:  map[string]string{"a": internalRoute("a", pivaA, "UFA000"), "b": internalRoute("b", pivaB, "UFB000")},
		rules:   map[string]sim.Scenario{"UFA000": sim.Recapito, "UFB000": sim.Recapito},
		timing:  timing,
		modules: func() []hub.Module { return []hub.Module{passive.New(passive.Options{})} },
	})
	e.submit("a", "per-b.xml", invoice(pivaA, "UFB000", "I1"))
	inv := e.waitSubmission("a", "per-b.xml", active.Consegnata)
	if inv.Header(active.HeaderFatturaInterna) != "b" {
		t.Errorf("FatturaInterna %q", inv.Header(active.HeaderFatturaInterna))
	}
	id := sdiID(t, inv)
	nome := inv.Header(active.HeaderNomeFile)

	// b's protocol system got it from the SdI, as any invoice.
	drop := e.data("b", "protocollo", nome)
	waitFileT(t, drop)
	pm := e.passiveInvoice(id)
	if pm.Ente != "b" || pm.CorrelationID != active.CorrelationID(string(id)) {
		t.Errorf("passive side: ente %q correlation %q", pm.Ente, pm.CorrelationID)
	}
	inv = e.waitHeader(inv.ID, active.HeaderFatturaPassiva)
	if inv.Header(active.HeaderFatturaPassiva) != string(pm.ID) {
		t.Errorf("FatturaPassiva %q, want %s", inv.Header(active.HeaderFatturaPassiva), pm.ID)
	}

	// b accepts: its system drops the EC; the SdI forwards it to a as NE.
	ec, err := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: sdi.EC01,
		RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: "I1", AnnoFattura: 2025}, Descrizione: "accettata dall'ente b"}})
	if err != nil {
		t.Fatal(err)
	}
	dropToEsiti(t, e, "b", sdi.NomeFileMessaggio(nome, sdi.EC, 1), ec)
	inv = e.waitState(inv.ID, active.Accettata)
	pm = e.waitState(pm.ID, passive.EsitoAccettato)
	if inv.CorrelationID != pm.CorrelationID {
		t.Errorf("correlation ids differ: %q %q", inv.CorrelationID, pm.CorrelationID)
	}
	if inv.Header(active.HeaderEsitoCommittente) != sdi.EC01 || pm.Header(passive.HeaderEsito) != sdi.EC01 {
		t.Errorf("esito: active %q passive %q", inv.Header(active.HeaderEsitoCommittente), pm.Header(passive.HeaderEsito))
	}
	e.waitOut("a", func(f string) bool { return strings.HasSuffix(f, "_NE_001.xml") })

	// The passive service too admits only the SdI's certificate (sdi.client_cns): an
	// ente's certificate cannot inject invoices.
	resp, err := e.otherClient(t).Post("https://"+e.hubAddr+"/sdi/RicezioneFatture", "text/xml", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("RicezioneFatture with another certificate: HTTP %d, want 403", resp.StatusCode)
	}
	if n := e.received(nome); n != 1 {
		t.Errorf("the SdI took %s %d times", nome, n)
	}
	// Every message about the invoice answers to one correlation id.
	ms, err := e.store().List(context.Background(), store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, m := range ms {
		if m.CorrelationID == inv.CorrelationID {
			kinds[string(m.Flow)+"/"+string(m.Kind)]++
		}
	}
	if kinds["active/invoice"] != 1 || kinds["passive/invoice"] != 1 || kinds["active/notification"] < 2 {
		t.Errorf("messages by correlation %s: %v", inv.CorrelationID, kinds)
	}
}

func dropToEsiti(t *testing.T, e *env, ente, name string, data []byte) {
	t.Helper()
	drop(t, e.data(ente, "esiti"), name, data)
}

// passiveInvoice waits for the passive invoice with IdentificativoSdI id.
func (e *env) passiveInvoice(id sdi.IdentificativoSdI) *message.Message {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ids, _ := e.store().FindByKey(context.Background(), "sdi:"+string(id))
		for _, mid := range ids {
			m := e.get(mid)
			if m.Flow == message.FlowPassive && m.Kind == message.KindInvoice && m.CorrelationID != "" {
				return m
			}
		}
		sleepShort()
	}
	e.t.Fatalf("no linked passive invoice for %s", id)
	return nil
}

// waitHeader waits for a header of a message to be set.
func (e *env) waitHeader(id message.ID, h string) *message.Message {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := e.get(id); m.Header(h) != "" {
			return m
		}
		sleepShort()
	}
	e.t.Fatalf("message %s: no header %s\n%s", id, h, e.timeline(id))
	return nil
}

func waitFileT(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.ReadFile(path); err == nil {
			return
		}
		sleepShort()
	}
	t.Fatalf("%s did not appear", path)
}
