package passive_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// site is where an ente's systems live: local folders (fs) or an FTP server.
type site struct {
	kind string // fs or ftp
	ftp  *ftptest.Server
}

func (s site) url(ente, folder string) string {
	if s.kind == "ftp" {
		return fmt.Sprintf("ftp://%s/%s/%s", s.ftp.Addr, ente, folder)
	}
	return fmt.Sprintf("file:%s/%s", ente, folder)
}

func (s site) endpoint(ente, folder, settings string) string {
	ep := fmt.Sprintf("{channel: %s, url: %q", s.kind, s.url(ente, folder))
	if s.kind == "ftp" {
		ep += ", username: hub, password: secret"
	}
	if settings != "" {
		ep += ", settings: " + settings
	}
	return ep + "}"
}

func (s site) receiver() string {
	if s.kind == "ftp" {
		return "{poll: 30ms, stable: none}"
	}
	return "{poll: 20ms, min_age: -1ns}"
}

func (s site) dir(e *env, ente, folder string) string {
	if s.kind == "ftp" {
		return s.ftp.Path(ente + "/" + folder)
	}
	return filepath.Join(e.data, ente, folder)
}

// route is the route file of an ente with protocol, accounting, notifications and
// outcome phases on site; passiveExtra adds keys under passive: (indented by two).
func (s site) route(id, office, passiveExtra string) string {
	return fmt.Sprintf(`ente: {id: %s, name: Comune %s, codice_fiscale: "00000000000", offices: [%s]}
passive:
  protocol: %s
  accounting: %s
  notifications: %s
  outcome: %s
%s`, id, strings.ToUpper(id), office, s.endpoint(id, "protocollo", ""), s.endpoint(id, "contabilita", ""),
		s.endpoint(id, "notifiche", ""), s.endpoint(id, "esiti", s.receiver()), passiveExtra)
}

const rejectRules = `  prevalidation:
    rules:
      - id: numero-registro
        path: DatiGenerali/DatiGeneraliDocumento/Numero
        matches: "R-[0-9]+"
        message: "Numero fattura non conforme al registro dell'ente (atteso R-nnn)"
      - id: cig
        path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
        matches: "[A-Z0-9]{10}"
        message: "CIG non valido in DatiOrdineAcquisto: 10 caratteri maiuscoli o cifre"
`

func newSite(t testing.TB, kind string) site {
	s := site{kind: kind}
	if kind == "ftp" {
		s.ftp = ftptest.Start(t, ftptest.Options{})
	}
	return s
}

func TestPassiveCycle(t *testing.T) {
	for _, kind := range []string{"fs", "ftp"} {
		t.Run(kind, func(t *testing.T) {
			s := newSite(t, kind)
			e := newEnv(t, envOptions{routes: map[string]string{
				"a": s.route("a", "UFA000", ""),
				"b": s.route("b", "UFB000", rejectRules),
			}})
			runMainScenario(t, e, s)
		})
	}
}

func TestPassiveCyclePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL run")
	}
	s := newSite(t, "fs")
	dsn := storetest.NewPostgresSchema(t)
	e := newEnv(t, envOptions{storeYAML: fmt.Sprintf("store: {driver: postgres, dsn: %q}", dsn), routes: map[string]string{
		"a": s.route("a", "UFA000", ""),
		"b": s.route("b", "UFB000", rejectRules),
	}})
	if e.store().Dialect() != store.Postgres {
		t.Fatal("not on PostgreSQL")
	}
	runMainScenario(t, e, s)
}

// runMainScenario: accept, reject, pre-validation reject, DT, SE, SdI redelivery.
func runMainScenario(t *testing.T, e *env, s site) {
	t.Run("accept", func(t *testing.T) {
		name := "IT01234567890_A0001.xml"
		data := invoiceFor("UFA000", "A1")
		id := e.deliver(name, data, "UFA000")
		got := waitFile(t, filepath.Join(s.dir(e, "a", "protocollo"), name))
		if string(got) != string(data) {
			t.Fatal("the protocol system got a different file")
		}
		waitFile(t, filepath.Join(s.dir(e, "a", "protocollo"), "IT01234567890_A0001_MT_001.xml"))
		waitFile(t, filepath.Join(s.dir(e, "a", "contabilita"), name))
		inv := e.waitState(id, passive.ConsegnataContabilita)
		if inv.Ente != "a" || inv.Header(passive.HeaderCedente) != "ALPHA SRL" || inv.Header(passive.HeaderPrevalidazione) != passive.PrevalidationNone {
			t.Fatalf("invoice %+v", inv.Headers)
		}
		// Protocol first, then accounting.
		evs, _ := e.store().Events(context.Background(), inv.ID)
		var delivered []string
		for _, ev := range evs {
			if ev.Type == message.EventDelivered {
				delivered = append(delivered, ev.Target)
			}
		}
		if want := fmt.Sprintf("passive.protocol (%s),passive.accounting (%s)", s.kind, s.kind); strings.Join(delivered, ",") != want {
			t.Fatalf("deliveries %v, want %s", delivered, want)
		}
		drop(t, s.dir(e, "a", "esiti"), "IT01234567890_A0001_EC_001.xml", ecFile(t, id, sdi.EC01, "A1", 2017))
		ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if ev.Dettaglio != "ES01 EC01" {
			t.Fatalf("the SdI answered %s %s", ev.Dettaglio, ev.Err)
		}
		inv = e.waitState(id, passive.EsitoAccettato)
		if inv.Header(passive.HeaderEsito) != sdi.EC01 {
			t.Fatalf("EsitoCommittente %q", inv.Header(passive.HeaderEsito))
		}
		want := "ricevuta,verificata,consegnata-protocollo,consegnata-contabilita,esito-ricevuto,esito-accettato"
		if got := strings.Join(e.states(inv.ID), ","); got != want {
			t.Fatalf("states %s, want %s", got, want)
		}
	})

	t.Run("reject", func(t *testing.T) {
		name := "IT01234567890_A0002.xml"
		id := e.deliver(name, invoiceFor("UFA000", "A2"), "UFA000")
		e.waitState(id, passive.ConsegnataContabilita)
		drop(t, s.dir(e, "a", "esiti"), "IT01234567890_A0002_EC_001.xml", ecFile(t, id, sdi.EC02, "A2", 2017))
		ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if ev.Dettaglio != "ES01 EC02" {
			t.Fatalf("the SdI answered %s %s", ev.Dettaglio, ev.Err)
		}
		if inv := e.waitState(id, passive.EsitoAccettato); inv.Header(passive.HeaderEsito) != sdi.EC02 {
			t.Fatalf("EsitoCommittente %q", inv.Header(passive.HeaderEsito))
		}
	})

	t.Run("pre-validation reject", func(t *testing.T) {
		name := "IT01234567890_B0001.xml"
		id := e.deliver(name, invoiceFor("UFB000", "B1"), "UFB000")
		ev := e.simEvent("EC02 at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if ev.Dettaglio != "ES01 EC02" {
			t.Fatalf("the SdI answered %s %s", ev.Dettaglio, ev.Err)
		}
		m, err := sdi.Parse("", ev.File)
		if err != nil {
			t.Fatal(err)
		}
		ec := m.Body.(*sdi.NotificaEsitoCommittente)
		want := "Numero fattura non conforme al registro dell'ente (atteso R-nnn); CIG non valido in DatiOrdineAcquisto: 10 caratteri maiuscoli o cifre"
		if ec.Descrizione != want || ec.RiferimentoFattura == nil || ec.RiferimentoFattura.NumeroFattura != "B1" || ec.RiferimentoFattura.AnnoFattura != 2017 {
			t.Fatalf("EC02 %+v", ec.EsitoCommittente)
		}
		// The ente gets the EC02 the hub sent, and the invoice (delivered, marked).
		got := waitFile(t, filepath.Join(s.dir(e, "b", "notifiche"), "IT01234567890_B0001_EC_001.xml"))
		if string(got) != string(ev.File) {
			t.Fatal("the ente got another EC02 than the SdI")
		}
		waitFile(t, filepath.Join(s.dir(e, "b", "protocollo"), name))
		inv := e.waitState(id, passive.EsitoAccettato)
		if inv.Header(passive.HeaderPrevalidazione) != passive.PrevalidationFailed || inv.Header(passive.HeaderEsito) != sdi.EC02 {
			t.Fatalf("headers %v", inv.Headers)
		}
		if got := strings.Join(e.states(inv.ID), ","); got != "ricevuta,rifiutata-prevalidazione,esito-accettato" {
			t.Fatalf("states %s", got)
		}
	})

	t.Run("DT", func(t *testing.T) {
		name := "IT01234567890_A0003.xml"
		id := e.deliver(name, invoiceFor("UFA000", "A3"), "UFA000")
		e.waitState(id, passive.ConsegnataContabilita)
		if err := e.sim.Load().FireDT(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		dt := waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), "IT01234567890_A0003_DT_001.xml"))
		if m, err := sdi.Parse("IT01234567890_A0003_DT_001.xml", dt); err != nil || m.Tipo != sdi.DT {
			t.Fatalf("DT relayed: %v", err)
		}
		e.waitState(id, passive.DecorrenzaTermini)
		// An EC after the DT is refused by the hub, which says why.
		drop(t, s.dir(e, "a", "esiti"), "IT01234567890_A0003_EC_001.xml", ecFile(t, id, sdi.EC01, "A3", 2017))
		notice := waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), "IT01234567890_A0003_EC_001.rifiuto.xml"))
		var r struct {
			Codice, Descrizione, IdentificativoSdI string
		}
		if err := xml.Unmarshal(notice, &r); err != nil || r.Codice != passive.RefusalAfterDT || r.IdentificativoSdI != string(id) ||
			!strings.Contains(r.Descrizione, "decorrenza termini") {
			t.Fatalf("refusal %+v (%v)", r, err)
		}
		for _, ev := range e.sim.Load().Events() {
			if ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id {
				t.Fatal("an EC after the DT reached the SdI")
			}
		}
		if inv := e.invoice(id); inv.State != passive.DecorrenzaTermini {
			t.Fatalf("state %s after a refused EC", inv.State)
		}
	})

	t.Run("SE", func(t *testing.T) {
		name := "IT01234567890_A0004.xml"
		id := e.deliver(name, invoiceFor("UFA000", "A4"), "UFA000")
		e.waitState(id, passive.ConsegnataContabilita)
		// The SdI restarts and forgets the delivery: it refuses the EC (ES00, SE EN01).
		e.startSim(fastTiming)
		drop(t, s.dir(e, "a", "esiti"), "IT01234567890_A0004_EC_001.xml", ecFile(t, id, sdi.EC01, "A4", 2017))
		ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
		if !strings.HasPrefix(ev.Dettaglio, "ES00 EN01") {
			t.Fatalf("the SdI answered %s", ev.Dettaglio)
		}
		inv := e.waitState(id, passive.EsitoScartato)
		seMsg := e.waitMessage("SE stored", func(m *message.Message) bool {
			return m.Header(message.HeaderTipoMessaggio) == "SE" && m.Header(message.HeaderIdentificativoSdI) == string(id)
		})
		se := waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), seMsg.FileName))
		if m, err := sdi.Parse(seMsg.FileName, se); err != nil || m.Body.(*sdi.ScartoEsitoCommittente).Scarto != sdi.EN01 {
			t.Fatalf("SE relayed: %v", err)
		}
		if inv.Header(passive.HeaderEsito) != "" {
			t.Fatalf("EsitoCommittente set after an SE: %q", inv.Header(passive.HeaderEsito))
		}
	})

	t.Run("SdI redelivery: one invoice, one delivery", func(t *testing.T) {
		name := "IT01234567890_A0005.xml"
		id := e.deliver(name, invoiceFor("UFA000", "A5"), "UFA000")
		inv := e.waitState(id, passive.ConsegnataContabilita)
		if err := e.sim.Load().Redeliver(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			evs, _ := e.store().Events(context.Background(), inv.ID)
			dup, delivered := 0, 0
			for _, ev := range evs {
				switch ev.Type {
				case message.EventDuplicate:
					dup++
				case message.EventDelivered:
					delivered++
				}
			}
			if dup == 1 {
				if delivered != 2 {
					t.Fatalf("%d deliveries after a redelivery", delivered)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redelivery not recognised:\n%s", e.timeline(inv.ID))
			}
			time.Sleep(15 * time.Millisecond)
		}
		ids, _ := e.store().FindByKey(context.Background(), "sdi:"+string(id))
		invoices := 0
		for _, mid := range ids {
			if m, _ := e.store().Get(context.Background(), mid); m.Kind == message.KindInvoice {
				invoices++
			}
		}
		if invoices != 1 {
			t.Fatalf("%d invoices stored for one IdentificativoSdI", invoices)
		}
		jobs, _ := e.store().Jobs(context.Background(), inv.ID)
		if len(jobs) != 3 { // check, protocol, accounting
			t.Fatalf("%d jobs: %s", len(jobs), e.timeline(inv.ID))
		}
	})
}

func TestUnroutableKeptThenReplayed(t *testing.T) {
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{routes: map[string]string{"a": s.route("a", "UFA000", "")}})
	id := e.deliver("IT01234567890_Z0001.xml", invoiceFor("UFZ999", "Z1"), "UFZ999")
	inv := e.waitState(id, passive.NonInstradata)
	if inv.Ente != "" {
		t.Fatalf("unroutable invoice bound to %q", inv.Ente)
	}
	ctx := context.Background()
	var dead []store.Job
	for i := 0; i < 500 && len(dead) == 0; i++ {
		dead, _ = e.store().DeadLetters(ctx, 10)
		time.Sleep(10 * time.Millisecond)
	}
	if len(dead) != 1 || dead[0].MessageID != inv.ID || !strings.Contains(dead[0].LastError, "UFZ999") {
		t.Fatalf("dead letters %+v", dead)
	}
	ms, _ := e.store().List(ctx, store.Filter{State: string(passive.NonInstradata)})
	if len(ms) != 1 || ms[0].ID != inv.ID {
		t.Fatalf("listing by state: %+v", ms)
	}
	// The operator adds the office to the route, restarts and replays.
	e.shutdown()
	os.WriteFile(filepath.Join(e.dir, "routes", "a.yaml"), []byte(s.route("a", "UFA000, UFZ999", "")), 0o644)
	e.start()
	if n, err := e.store().Replay(ctx, inv.ID, 0); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	e.hub().Notify()
	waitFile(t, filepath.Join(s.dir(e, "a", "protocollo"), "IT01234567890_Z0001.xml"))
	inv = e.waitState(id, passive.ConsegnataContabilita)
	if inv.Ente != "a" {
		t.Fatalf("ente %q after replay", inv.Ente)
	}
	if got := strings.Join(e.states(inv.ID), ","); got != "non-instradata,ricevuta,verificata,consegnata-protocollo,consegnata-contabilita" {
		t.Fatalf("states %s", got)
	}
}

func TestEnteSystemDownDeliveredOnceWhenBack(t *testing.T) {
	s := newSite(t, "ftp")
	route := s.route("a", "UFA000", "")
	route = strings.Replace(route, `"ftp://`+s.ftp.Addr+`/a/protocollo", username: hub, password: secret`,
		`"ftp://`+s.ftp.Addr+`/a/protocollo", username: hub, password: secret, retry: {max_attempts: 40, initial: 50ms, max: 200ms}`, 1)
	e := newEnv(t, envOptions{routes: map[string]string{"a": route}})
	s.ftp.Stop()
	id := e.deliver("IT01234567890_D0001.xml", invoiceFor("UFA000", "D1"), "UFA000")
	inv := e.waitState(id, passive.Verificata)
	// Attempts fail while the ente's server is down.
	deadline := time.Now().Add(10 * time.Second)
	for failed := 0; failed < 2; {
		evs, _ := e.store().Events(context.Background(), inv.ID)
		failed = 0
		for _, ev := range evs {
			if ev.Type == message.EventAttemptFailed {
				failed++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempts:\n%s", e.timeline(inv.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.ftp.Restart()
	waitFile(t, filepath.Join(s.dir(e, "a", "protocollo"), "IT01234567890_D0001.xml"))
	inv = e.waitState(id, passive.ConsegnataContabilita)
	evs, _ := e.store().Events(context.Background(), inv.ID)
	n := 0
	for _, ev := range evs {
		if ev.Type == message.EventDelivered && strings.HasPrefix(ev.Target, "passive.protocol") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d protocol deliveries:\n%s", n, e.timeline(inv.ID))
	}
	entries, _ := os.ReadDir(s.dir(e, "a", "protocollo"))
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if strings.Join(names, ",") != "IT01234567890_D0001.xml,IT01234567890_D0001_MT_001.xml" {
		t.Fatalf("protocol folder holds %v", names)
	}
}

func TestHubStoppedMidCycleCompletesAfterRestart(t *testing.T) {
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{routes: map[string]string{"a": strings.Replace(s.route("a", "UFA000", ""),
		`url: "file:a/protocollo"`, `url: "file:a/protocollo", retry: {max_attempts: 1000, initial: 20ms, max: 50ms}`, 1)}})
	// The protocol folder is blocked: the invoice is stored and checked, not delivered.
	block := filepath.Join(e.data, "a", "protocollo")
	os.MkdirAll(filepath.Dir(block), 0o755)
	os.WriteFile(block, []byte("non una cartella"), 0o644)
	id := e.deliver("IT01234567890_K0001.xml", invoiceFor("UFA000", "K1"), "UFA000")
	e.waitState(id, passive.Verificata)
	e.shutdown() // step 1: the hub stops with the delivery pending
	os.Remove(block)
	e.start()
	waitFile(t, filepath.Join(block, "IT01234567890_K0001.xml"))
	e.waitState(id, passive.ConsegnataContabilita)
	e.shutdown() // step 2: the hub is down when the ente answers
	drop(t, filepath.Join(e.data, "a", "esiti"), "IT01234567890_K0001_EC_001.xml", ecFile(t, id, sdi.EC01, "K1", 2017))
	time.Sleep(50 * time.Millisecond)
	e.start()
	ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC01" {
		t.Fatalf("the SdI answered %s", ev.Dettaglio)
	}
	inv := e.waitState(id, passive.EsitoAccettato)
	n := 0
	for _, ev := range e.sim.Load().Events() {
		if ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d ECs reached the SdI", n)
	}
	if got := strings.Join(e.states(inv.ID), ","); got != "ricevuta,verificata,consegnata-protocollo,consegnata-contabilita,esito-ricevuto,esito-accettato" {
		t.Fatalf("states %s", got)
	}
}

func TestAPIOutcomeAndRefusals(t *testing.T) {
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{routes: map[string]string{"a": s.route("a", "UFA000", ""), "b": s.route("b", "UFB000", "")}})
	ctx := context.Background()
	id := e.deliver("IT01234567890_P0001.xml", invoiceFor("UFA000", "P1"), "UFA000")
	e.waitState(id, passive.ConsegnataContabilita)
	refusals := []struct {
		name string
		req  passive.OutcomeRequest
		code string
	}{
		{"unknown invoice", passive.OutcomeRequest{Ente: "a", IdentificativoSdI: "999999999", Esito: sdi.EC01}, passive.RefusalUnknown},
		{"another ente's", passive.OutcomeRequest{Ente: "b", IdentificativoSdI: string(id), Esito: sdi.EC01}, passive.RefusalOtherEnte},
		{"bad esito", passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: "EC03"}, passive.RefusalMalformed},
		{"bad reference", passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC01,
			RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: "ALTRO", AnnoFattura: 2017}}, passive.RefusalRiferimento},
		{"description too long", passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC02, Descrizione: strings.Repeat("x", 256)}, passive.RefusalMalformed},
	}
	for _, c := range refusals {
		_, err := e.module().SubmitDecision(ctx, c.req)
		var oe *passive.OutcomeError
		if !errors.As(err, &oe) || oe.Code != c.code {
			t.Fatalf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	rec, err := e.module().SubmitDecision(ctx, passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC02,
		Descrizione: "Importo non dovuto", RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: "P1", AnnoFattura: 2017}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.NomeFile != "IT01234567890_P0001_EC_001.xml" {
		t.Fatalf("EC named %s", rec.NomeFile)
	}
	// A second one while the first is on its way, or after it was accepted, is refused.
	_, err = e.module().SubmitDecision(ctx, passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC01})
	var oe *passive.OutcomeError
	if !errors.As(err, &oe) || (oe.Code != passive.RefusalInProgress && oe.Code != passive.RefusalAlready) {
		t.Fatalf("second outcome: %v", err)
	}
	ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC02" {
		t.Fatalf("the SdI answered %s", ev.Dettaglio)
	}
	e.waitState(id, passive.EsitoAccettato)
	// The EC the hub wrote goes to the ente.
	got := waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), rec.NomeFile))
	if string(got) != string(ev.File) {
		t.Fatal("the ente got another EC than the SdI")
	}
	_, err = e.module().SubmitDecision(ctx, passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC01})
	if !errors.As(err, &oe) || oe.Code != passive.RefusalAlready {
		t.Fatalf("outcome after acceptance: %v", err)
	}
	// An ente's EC file with a wrong name, or for an unknown invoice, is refused with a notice.
	drop(t, s.dir(e, "a", "esiti"), "IT01234567890_ALTRO_EC_001.xml", ecFile(t, id, sdi.EC01, "P1", 2017))
	notice := waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), "IT01234567890_ALTRO_EC_001.rifiuto.xml"))
	if !strings.Contains(string(notice), passive.RefusalFileName) {
		t.Fatalf("notice %s", notice)
	}
	drop(t, s.dir(e, "a", "esiti"), "IT01234567890_P0001_EC_002.xml", []byte("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"))
	notice = waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), "IT01234567890_P0001_EC_002.rifiuto.xml"))
	if !strings.Contains(string(notice), passive.RefusalMalformed) {
		t.Fatalf("notice %s", notice)
	}
}

func TestLottoOneOutcomePerInvoice(t *testing.T) {
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{routes: map[string]string{"a": s.route("a", "UFA000", "")}})
	ctx := context.Background()
	name := "IT01234567890_L0001.xml"
	id := e.deliver(name, []byte(strings.Replace(string(fpa03), "<CodiceDestinatario>AAAAAA<", "<CodiceDestinatario>UFA000<", 1)), "UFA000")
	inv := e.waitState(id, passive.ConsegnataContabilita)
	refs := inv.Header(passive.HeaderRiferimenti)
	if !strings.Contains(refs, `"PosizioneFattura":2`) {
		t.Fatalf("references %s", refs)
	}
	// The two invoices of the file get their own outcome.
	var rs []sdi.RiferimentoFattura
	if err := json.Unmarshal([]byte(refs), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("references %s: %v", refs, err)
	}
	atSdI := func() int {
		n := 0
		for _, ev := range e.sim.Load().Events() {
			if ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id {
				if ev.Dettaglio != "ES01 EC01" {
					t.Fatalf("the SdI answered %s %s", ev.Dettaglio, ev.Err)
				}
				n++
			}
		}
		return n
	}
	for i, r := range rs {
		if _, err := e.module().SubmitDecision(ctx, passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC01, RiferimentoFattura: &r}); err != nil {
			t.Fatalf("outcome %d: %v", i+1, err)
		}
		for deadline := time.Now().Add(10 * time.Second); atSdI() < i+1; time.Sleep(15 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("outcome %d did not reach the SdI", i+1)
			}
		}
		e.waitState(id, passive.EsitoAccettato)
	}
	if n := atSdI(); n != 2 {
		t.Fatalf("%d outcomes at the SdI", n)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(e.invoice(id).Header("EsitiCommittente"), "EC01") < 2; time.Sleep(15 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("outcomes not recorded: %v", e.invoice(id).Headers)
		}
	}
	_, err := e.module().SubmitDecision(ctx, passive.OutcomeRequest{Ente: "a", IdentificativoSdI: string(id), Esito: sdi.EC02, RiferimentoFattura: &rs[1]})
	var oe *passive.OutcomeError
	if !errors.As(err, &oe) || oe.Code != passive.RefusalAlready {
		t.Fatalf("third outcome: %v", err)
	}
}
