package passive_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ws"
	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/testpki"
)

// enteSystem is an ente's protocol and accounting systems behind a REST web service
// (channel ws, style rest) over HTTPS: the protocol system answers with a protocol
// number, the accounting system records what it got.
type enteSystem struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	path    string
	headers http.Header
	body    []byte
}

func (s *enteSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, recorded{path: r.URL.Path, headers: r.Header.Clone(), body: body})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/protocollo" {
		fmt.Fprint(w, `{"numero_protocollo": "2026/0042", "data_protocollo": "2026-11-25"}`)
		return
	}
	fmt.Fprint(w, `{"esito": "ok"}`)
}

func (s *enteSystem) got(path string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recorded
	for _, r := range s.requests {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func TestProtocolNumberCarriedToAccounting(t *testing.T) {
	sys := &enteSystem{}
	srv := httptest.NewUnstartedServer(sys)
	// The ente's server certificate comes from the test CA, written by newEnv: start
	// the server once the PKI exists.
	var e *env
	routes := func(url, ca string) string {
		return fmt.Sprintf(`ente: {id: ws, name: Comune WS, codice_fiscale: "00000000000", offices: [UFW000]}
passive:
  protocol: {channel: ws, url: %q, tls: {ca: %q}, settings: {style: rest}}
  accounting: {channel: ws, url: %q, tls: {ca: %q}, settings: {style: rest}}
  notifications: {channel: fs, url: "file:ws/notifiche"}
`, url+"/protocollo", ca, url+"/contabilita", ca)
	}
	dir := t.TempDir()
	p := newPKI(t, dir)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{mustServer(t, p)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e = newEnv(t, envOptions{kinds: wsKinds(), routes: map[string]string{"ws": routes(srv.URL, p.caFile)}})
	id := e.deliver("IT01234567890_W0001.xml", invoiceFor("UFW000", "W1"), "UFW000")
	inv := e.waitState(id, passive.ConsegnataContabilita)
	if inv.Header(message.HeaderNumeroProtocollo) != "2026/0042" {
		t.Fatalf("NumeroProtocollo %q", inv.Header(message.HeaderNumeroProtocollo))
	}
	acc := sys.got("/contabilita")
	if len(acc) != 1 {
		t.Fatalf("%d accounting deliveries", len(acc))
	}
	if h := acc[0].headers; h.Get(ws.HeaderSnodoNumeroProtocollo) != "2026/0042" || h.Get(ws.HeaderSnodoDataProtocollo) != "2026-11-25" ||
		h.Get(ws.HeaderSnodoIdentificativoSdI) != string(id) {
		t.Fatalf("accounting delivery headers %v", h)
	}
	if pr := sys.got("/protocollo"); len(pr) != 1 || pr[0].headers.Get(ws.HeaderSnodoNumeroProtocollo) != "" {
		t.Fatalf("protocol deliveries %d", len(pr))
	}
	if got := strings.Join(e.states(inv.ID), ","); got != "ricevuta,verificata,protocollata,consegnata-contabilita" {
		t.Fatalf("states %s", got)
	}
}

func TestSingleDeliveryOfASignedFileWithEverything(t *testing.T) {
	s := newSite(t, "fs")
	route := `ente: {id: u, name: Comune U, codice_fiscale: "00000000000", offices: [UFU000]}
passive:
  single_delivery: true
  deliver: [signed, unwrapped, metadata, rendering]
  protocol: {channel: fs, url: "file:u/protocollo"}
  accounting: {channel: fs, url: "file:u/contabilita"}
`
	e := newEnv(t, envOptions{routes: map[string]string{"u": route}})
	name := "IT01234567890_11111.xml.p7m"
	signed := readFile("../../../testdata/sdi/invoices/" + name)
	id := e.deliver(name, signed, "UFU000")
	inv := e.waitState(id, passive.Consegnata)
	dir := s.dir(e, "u", "protocollo")
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	sort.Strings(names)
	want := "IT01234567890_11111.html,IT01234567890_11111.xml,IT01234567890_11111.xml.p7m,IT01234567890_11111_MT_001.xml"
	if strings.Join(names, ",") != want {
		t.Fatalf("delivered %v, want %s", names, want)
	}
	if _, err := os.Stat(s.dir(e, "u", "contabilita")); !os.IsNotExist(err) {
		t.Fatal("single delivery wrote to the accounting folder")
	}
	xmlFile, _ := os.ReadFile(filepath.Join(dir, "IT01234567890_11111.xml"))
	if !strings.Contains(string(xmlFile), "FatturaElettronica") || strings.Contains(string(xmlFile), "\x30\x82") {
		t.Fatal("the unwrapped file is not the invoice XML")
	}
	html, _ := os.ReadFile(filepath.Join(dir, "IT01234567890_11111.html"))
	if !strings.Contains(strings.ToLower(string(html)), "<html") {
		t.Fatalf("rendering is not HTML: %.200s", html)
	}
	if inv.Header(passive.HeaderBusta) != "cades" {
		t.Fatalf("envelope %q", inv.Header(passive.HeaderBusta))
	}
}

func TestRejectedNotDeliveredWhenTheRouteSaysSo(t *testing.T) {
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{routes: map[string]string{"c": s.route("c", "UFC000", rejectRules+"    deliver_rejected: false\n")}})
	id := e.deliver("IT01234567890_C0001.xml", invoiceFor("UFC000", "C1"), "UFC000")
	ev := e.simEvent("EC02 at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC02" {
		t.Fatalf("the SdI answered %s", ev.Dettaglio)
	}
	waitFile(t, filepath.Join(s.dir(e, "c", "notifiche"), "IT01234567890_C0001_EC_001.xml"))
	inv := e.waitState(id, passive.EsitoAccettato)
	if _, err := os.Stat(filepath.Join(s.dir(e, "c", "protocollo"), "IT01234567890_C0001.xml")); !os.IsNotExist(err) {
		t.Fatal("a rejected invoice was delivered with deliver_rejected: false")
	}
	if !strings.Contains(e.timeline(inv.ID), "deliver_rejected: false") {
		t.Fatalf("timeline does not say why:\n%s", e.timeline(inv.ID))
	}
}

func TestAutomaticAcceptance(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{now: now, routes: map[string]string{"a": s.route("a", "UFA000", "  auto_accept_days: 10\n")}})
	id := e.deliver("IT01234567890_T0001.xml", invoiceFor("UFA000", "T1"), "UFA000")
	inv := e.waitState(id, passive.ConsegnataContabilita)
	jobs, _ := e.store().Jobs(context.Background(), inv.ID)
	var auto bool
	for _, j := range jobs {
		if j.Handler == passive.HandlerAutoAccept {
			auto = true
			if d := j.DueAt.Sub(inv.CreatedAt); d < 10*24*time.Hour-time.Minute || d > 10*24*time.Hour+time.Minute {
				t.Fatalf("automatic acceptance due after %s", d)
			}
		}
	}
	if !auto {
		t.Fatal("no automatic acceptance job")
	}
	offset.Store(int64(10*24*time.Hour + time.Minute))
	e.hub().Notify()
	ev := e.simEvent("EC01 at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC01" {
		t.Fatalf("the SdI answered %s", ev.Dettaglio)
	}
	m, err := sdi.Parse("", ev.File)
	if err != nil {
		t.Fatal(err)
	}
	if ec := m.Body.(*sdi.NotificaEsitoCommittente); !strings.Contains(ec.Descrizione, "10 giorni") || ec.RiferimentoFattura == nil {
		t.Fatalf("EC01 %+v", ec.EsitoCommittente)
	}
	e.waitState(id, passive.EsitoAccettato)
	waitFile(t, filepath.Join(s.dir(e, "a", "notifiche"), "IT01234567890_T0001_EC_001.xml"))
}

// An invoice the ente answered before the deadline gets no automatic EC.
func TestAutomaticAcceptanceNotNeeded(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := newSite(t, "fs")
	e := newEnv(t, envOptions{now: now, routes: map[string]string{"a": s.route("a", "UFA000", "  auto_accept_days: 1\n")}})
	id := e.deliver("IT01234567890_T0002.xml", invoiceFor("UFA000", "T2"), "UFA000")
	e.waitState(id, passive.ConsegnataContabilita)
	drop(t, s.dir(e, "a", "esiti"), "IT01234567890_T0002_EC_001.xml", ecFile(t, id, sdi.EC02, "T2", 2017))
	inv := e.waitState(id, passive.EsitoAccettato)
	offset.Store(int64(25 * time.Hour))
	e.hub().Notify()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.timeline(inv.ID), "automatic acceptance not needed") {
		if time.Now().After(deadline) {
			t.Fatalf("automatic acceptance did not run:\n%s", e.timeline(inv.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := 0
	for _, ev := range e.sim.Load().Events() {
		if ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d outcomes at the SdI", n)
	}
	if inv := e.invoice(id); inv.Header(passive.HeaderEsito) != sdi.EC02 {
		t.Fatalf("EsitoCommittente %q", inv.Header(passive.HeaderEsito))
	}
}

func mustServer(t *testing.T, p *pki) tls.Certificate { return mustServerTB(t, p) }

func mustServerTB(t testing.TB, p *pki) tls.Certificate {
	t.Helper()
	c, err := p.ca.Server("protocollo.ente.test", testpki.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	return c.TLS()
}

func wsKinds() []*channel.Kind { return []*channel.Kind{ws.Kind()} }
