package active_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"snodo/pkg/flow/active"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// TestScenarios runs one invoice per SdI scenario through each submission channel (a
// folder, an FTP server, the API for enti over HTTPS, PEC): submitted, checked, named,
// sent once, and every notification relayed to the ente, the invoice moving along its
// state machine.
func TestScenarios(t *testing.T) {
	for _, kind := range []string{"fs", "ftp", "api", "pec"} {
		t.Run(kind, func(t *testing.T) {
			s := newSite(t, kind)
			e := newEnv(t, s.options(envOptions{}))
			runScenarios(t, e, s)
		})
	}
}

// TestPostgres runs the scenarios and the concurrent duplicates on PostgreSQL (row
// locks, advisory locks for the duplicate check, counters shared by processes).
func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL run")
	}
	dsn := storetest.NewPostgresSchema(t)
	s := newSite(t, "fs")
	e := newEnv(t, s.options(envOptions{storeYAML: fmt.Sprintf("store: {driver: postgres, dsn: %q}", dsn)}))
	if e.store().Dialect() != store.Postgres {
		t.Fatal("not on PostgreSQL")
	}
	runScenarios(t, e, s)
	inv := invoice(pivaA, "AAAAAA", "PG1")
	for i := 0; i < 4; i++ {
		e.submit("a", fmt.Sprintf("pg-copia%d.xml", i), inv)
	}
	accepted := 0
	for i := 0; i < 4; i++ {
		if m := e.waitSubmissionFinal("a", fmt.Sprintf("pg-copia%d.xml", i)); m.State != active.RifiutataValidazione {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("%d of 4 concurrent copies accepted, want 1", accepted)
	}
}

func runScenarios(t *testing.T, e *env, s site) {
	cases := []struct {
		codice string
		name   string // the ente's file name
		states []string
		tipi   []sdi.Tipo // notifications relayed, in order
		esito  string
	}{
		{"AAAAAA", "fattura-ec01.xml", []string{"ricevuta", "da-inviare", "inviata", "consegnata", "accettata"}, []sdi.Tipo{sdi.RC, sdi.NE}, sdi.EC01},
		{"BBBBBB", "IT" + pivaA + "_00B01.xml", []string{"ricevuta", "da-inviare", "inviata", "consegnata", "rifiutata"}, []sdi.Tipo{sdi.RC, sdi.NE}, sdi.EC02},
		{"CCCCCC", "fattura-mc.xml", []string{"ricevuta", "da-inviare", "inviata", "mancata-consegna", "attestazione"}, []sdi.Tipo{sdi.MC, sdi.AT}, ""},
		{"DDDDDD", "fattura-dt.xml", []string{"ricevuta", "da-inviare", "inviata", "consegnata", "decorrenza-termini"}, []sdi.Tipo{sdi.RC, sdi.DT}, ""},
		{"EEEEEE", "fattura-ns.xml", []string{"ricevuta", "da-inviare", "inviata", "scartata"}, []sdi.Tipo{sdi.NS}, ""},
	}
	for i, c := range cases {
		s.submit(t, e, c.name, invoice(pivaA, c.codice, fmt.Sprintf("S%d", i+1)))
	}
	for _, c := range cases {
		t.Run(c.codice, func(t *testing.T) {
			final := c.states[len(c.states)-1]
			m := e.waitSubmission("a", c.name, message.State(final))
			if got := e.states(m.ID); !sameStates(got, c.states) {
				t.Errorf("states %s, want %s\n%s", strings.Join(got, ","), strings.Join(c.states, ","), e.timeline(m.ID))
			}
			nome := m.Header(active.HeaderNomeFile)
			if strings.HasPrefix(c.name, "IT") {
				if nome != c.name {
					t.Errorf("compliant name %s not kept: %s", c.name, nome)
				}
			} else if !strings.HasPrefix(nome, "IT"+pivaA+"_") {
				t.Errorf("name at the SdI %q, want IT%s_<progressivo>", nome, pivaA)
			}
			if m.Header(message.HeaderNomeFileOriginale) != c.name {
				t.Errorf("NomeFileOriginale %q", m.Header(message.HeaderNomeFileOriginale))
			}
			if n := e.received(nome); n != 1 {
				t.Errorf("the SdI received %s %d times", nome, n)
			}
			id := sdiID(t, m)
			if m.CorrelationID != "sdi:"+string(id) {
				t.Errorf("correlation %q", m.CorrelationID)
			}
			if c.esito != "" && m.Header(active.HeaderEsitoCommittente) != c.esito {
				t.Errorf("EsitoCommittente %q, want %s", m.Header(active.HeaderEsitoCommittente), c.esito)
			}
			// The ente got its receipt (a file, or the API's answer), then each
			// notification under the SdI's name.
			r, err := e.module().Receipt(context.Background(), m.ID)
			if err != nil || r.Codice != active.FA00 || r.NomeFile != nome || r.NomeFileOriginale != c.name ||
				r.RicevutaComunicazione != m.Header(active.HeaderRicevuta) {
				t.Errorf("receipt %+v %v", r, err)
			}
			if s.outcomes {
				n, b := s.waitDelivered(t, e, func(f string) bool { return strings.Contains(f, ".esito-"+string(m.ID)) })
				if got, err := active.ParseOutcome(n, b); err != nil || got.Codice != active.FA00 || got.NomeFile != nome {
					t.Errorf("outcome file %s: %+v %v", n, got, err)
				}
			}
			ns := e.notifications(m.ID)
			var tipi []sdi.Tipo
			for _, n := range ns {
				tipi = append(tipi, sdi.Tipo(n.Header(message.HeaderTipoMessaggio)))
				if n.Ente != "a" || n.CorrelationID != m.CorrelationID {
					t.Errorf("notification %s: ente %q correlation %q", n.FileName, n.Ente, n.CorrelationID)
				}
				s.waitDelivered(t, e, func(f string) bool { return f == n.FileName })
			}
			if fmt.Sprint(tipi) != fmt.Sprint(c.tipi) {
				t.Errorf("notifications %v, want %v", tipi, c.tipi)
			}
			if c.codice == "EEEEEE" {
				// The NS arrives with its errors readable: header, rendering, timeline.
				if !strings.Contains(m.Header(active.HeaderErrori), "00311") {
					t.Errorf("Errori %q", m.Header(active.HeaderErrori))
				}
				_, html := s.waitDelivered(t, e, func(f string) bool { return strings.HasSuffix(f, "_NS_001.xml.html") })
				if !bytes.Contains(html, []byte("00311")) || !bytes.Contains(bytes.ToLower(html), []byte("<html")) {
					t.Errorf("NS rendering lacks the error:\n%s", html)
				}
			}
		})
	}
}

// TestRefusedByChecks: a file the SdI would reject is not sent; the ente gets FA02 with
// the SdI's codes in Italian.
func TestRefusedByChecks(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}})
	bad := bytes.Replace(invoice(pivaA, "AAAAAA", "R1"), []byte("<Imposta>22.00</Imposta>"), []byte("<Imposta>21.00</Imposta>"), 1)
	e.submit("a", "sbagliata.xml", bad)
	broken := []byte("<?xml version=\"1.0\"?><p:FatturaElettronica")
	e.submit("a", "rotta.xml", broken)
	for _, c := range []struct{ name, code string }{{"sbagliata.xml", "00421"}, {"rotta.xml", "00200"}} {
		m := e.waitSubmission("a", c.name, active.RifiutataValidazione)
		r := e.outcomeOf("a", m)
		if r.Codice != active.FA02 || r.NomeFile != "" || len(r.Errori) == 0 || r.Errori[0].Codice != c.code {
			t.Errorf("%s: outcome %+v", c.name, r)
		}
		if !strings.Contains(m.Header(active.HeaderErrori), c.code) {
			t.Errorf("%s: Errori %q", c.name, m.Header(active.HeaderErrori))
		}
		if m.Header(active.HeaderNomeFile) != "" {
			t.Errorf("%s: refused file named %s", c.name, m.Header(active.HeaderNomeFile))
		}
	}
	if n := len(e.simEvents(func(ev sim.Event) bool { return ev.Azione == "RiceviFile" })); n != 0 {
		t.Errorf("the SdI got %d files", n)
	}
}

// TestDuplicates: the same invoice submitted again (under another name, or at the same
// time) is refused with 00404; a name already used with 00002; the SdI gets it once.
func TestDuplicates(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}})
	inv := invoice(pivaA, "AAAAAA", "D1")
	e.submit("a", "prima.xml", inv)
	first := e.waitSubmission("a", "prima.xml", active.Accettata)
	e.submit("a", "seconda.xml", inv)
	dup := e.waitSubmission("a", "seconda.xml", active.RifiutataValidazione)
	if r := e.outcomeOf("a", dup); r.Codice != active.FA02 || len(r.Errori) != 1 || r.Errori[0].Codice != "00404" ||
		!strings.Contains(r.Errori[0].Descrizione, string(first.ID)) {
		t.Errorf("second submission: %+v", r)
	}
	// The same compliant name with another invoice: 00002.
	name := "IT" + pivaA + "_0000N.xml"
	e.submit("a", name, invoice(pivaA, "AAAAAA", "D2"))
	e.waitSubmission("a", name, active.Accettata)
	os.Remove(e.data("a", "in", name))
	e.submit("a", name, append(invoice(pivaA, "AAAAAA", "D3"), '\n'))
	var again *message.Message
	for _, m := range e.invoices("a") {
		if m.Header(message.HeaderNomeFileOriginale) == name && m.State != active.Accettata {
			again = m
		}
	}
	if again == nil {
		again = waitSecond(t, e, name)
	}
	if r := e.outcomeOf("a", e.waitState(again.ID, active.RifiutataValidazione)); len(r.Errori) != 1 || r.Errori[0].Codice != "00002" {
		t.Errorf("same name: %+v", r)
	}
	// Two copies at once: exactly one goes.
	inv3 := invoice(pivaA, "AAAAAA", "D4")
	e.submit("a", "copia1.xml", inv3)
	e.submit("a", "copia2.xml", inv3)
	m1 := e.waitSubmissionFinal("a", "copia1.xml")
	m2 := e.waitSubmissionFinal("a", "copia2.xml")
	if (m1.State == active.RifiutataValidazione) == (m2.State == active.RifiutataValidazione) {
		t.Errorf("concurrent copies: %s and %s, want exactly one refused", m1.State, m2.State)
	}
	if n := len(e.simEvents(func(ev sim.Event) bool { return ev.Azione == "RiceviFile" })); n != 3 {
		t.Errorf("the SdI got %d files, want 3", n)
	}
}

// waitSecond waits for the second submission of a file name.
func waitSecond(t *testing.T, e *env, name string) *message.Message {
	t.Helper()
	for i := 0; i < 2000; i++ {
		var ms []*message.Message
		for _, m := range e.invoices("a") {
			if m.Header(message.HeaderNomeFileOriginale) == name {
				ms = append(ms, m)
			}
		}
		if len(ms) == 2 {
			return ms[1]
		}
		sleepShort()
	}
	t.Fatalf("second submission of %s not stored", name)
	return nil
}

// sameStates compares a timeline's states with the expected ones. The first
// notification may be correlated (by file name) before the send commits the SdI's
// answer: the invoice then goes from da-inviare straight to the notification's state,
// and "inviata" is missing, as the state machine allows.
func sameStates(got, want []string) bool {
	if strings.Join(got, ",") == strings.Join(want, ",") {
		return true
	}
	var short []string
	for _, s := range want {
		if s != string(active.Inviata) {
			short = append(short, s)
		}
	}
	return strings.Join(got, ",") == strings.Join(short, ",")
}
