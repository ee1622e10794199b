package active_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"snodo/pkg/channel"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/flow/active"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/sdi/sim"
)

// TestSdIUnavailable: EI02 answers, then a network outage (connections refused): the
// hub retries and the SdI gets the file once, when it is back.
func TestSdIUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, viaProxy: true})
	if err := e.sim.Load().Unavailable("RiceviFile", 3); err != nil {
		t.Fatal(err)
	}
	e.submit("a", "ei02.xml", invoice(pivaA, "AAAAAA", "U1"))
	m := e.waitSubmission("a", "ei02.xml", active.Accettata)
	nome := m.Header(active.HeaderNomeFile)
	refused := e.simEvents(func(ev sim.Event) bool { return ev.Azione == "RiceviFile" && ev.Dettaglio == sdicoop.EI02 })
	if len(refused) != 3 || e.received(nome) != 1 {
		t.Errorf("EI02 answers %d (want 3), files received %d (want 1)", len(refused), e.received(nome))
	}
	if m.Header(active.HeaderTentativiInvio) != "4" {
		t.Errorf("TentativiInvio %q, want 4", m.Header(active.HeaderTentativiInvio))
	}

	// The network goes: connections to the SdI are refused for a while.
	e.proxy.down()
	e.submit("a", "rete.xml", invoice(pivaA, "AAAAAA", "U2"))
	sub := e.waitSubmission("a", "rete.xml", active.DaInviare)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(e.timeline(sub.ID), "attempt_failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt while the SdI is unreachable:\n%s", e.timeline(sub.ID))
		}
		sleepShort()
	}
	e.proxy.up()
	m = e.waitSubmission("a", "rete.xml", active.Accettata)
	if n := e.received(m.Header(active.HeaderNomeFile)); n != 1 {
		t.Errorf("received %d times after the outage", n)
	}
}

// TestLostAnswer: the SdI takes the file but its answer never reaches the hub (the
// connection drops after the request). The hub does not send again: it waits for the
// SdI's notifications, recognises the file by name, and learns its IdentificativoSdI.
func TestLostAnswer(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}})
	var lose atomic.Int32
	lose.Store(1)
	e.setFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == "/SdIRiceviFile" && lose.Add(-1) >= 0 {
			next.ServeHTTP(httptest.NewRecorder(), r) // the SdI does its work...
			hijackClose(w)                            // ...and the answer is lost
			return
		}
		next.ServeHTTP(w, r)
	})
	e.submit("a", "persa.xml", invoice(pivaA, "AAAAAA", "L1"))
	m := e.waitSubmission("a", "persa.xml", active.Accettata)
	nome := m.Header(active.HeaderNomeFile)
	if n := e.received(nome); n != 1 {
		t.Fatalf("the SdI received %s %d times", nome, n)
	}
	ev := e.simEvent("RiceviFile", func(ev sim.Event) bool { return ev.Azione == "RiceviFile" && ev.NomeFile == nome })
	if got := sdiID(t, m); got != ev.IdentificativoSdI {
		t.Errorf("IdentificativoSdI %s, the SdI gave %s", got, ev.IdentificativoSdI)
	}
	tl := e.timeline(m.ID)
	for _, want := range []string{"awaiting", "appreso dalla notifica", "job active.send sdi.RiceviFile done"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if m.Header(active.HeaderInvioInCorso) != "" {
		t.Errorf("InvioInCorso still set: %q", m.Header(active.HeaderInvioInCorso))
	}
}

// TestLostAnswerNoNotification: the answer is lost and no notification comes within the
// wait: the hub sends the same file again under the same name; the SdI, which had it,
// refuses the repeat with 00002, and the hub recognises that scarto as the echo of its
// first send: the invoice is not marked scartata.
func TestLostAnswerNoNotification(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, wait: 300 * time.Millisecond})
	var lose atomic.Int32
	lose.Store(1)
	e.setFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == "/SdIRiceviFile" && lose.Add(-1) >= 0 {
			next.ServeHTTP(httptest.NewRecorder(), r)
			hijackClose(w)
			return
		}
		next.ServeHTTP(w, r)
	})
	// FFFFFF: the SdI accepts the file and says nothing more.
	e.submit("a", "silenzio.xml", invoice(pivaA, "FFFFFF", "L2"))
	sub := e.waitSubmission("a", "silenzio.xml", active.Inviata)
	nome := sub.Header(active.HeaderNomeFile)
	ns := e.simEvent("NS 00002", func(ev sim.Event) bool { return ev.Azione == "Notifica" && ev.Tipo == sdi.NS && ev.NomeFile == nome })
	if !strings.Contains(string(ns.File), "00002") {
		t.Fatalf("the repeat was not refused as a duplicate name:\n%s", ns.File)
	}
	// The NS is correlated and recorded, the invoice stays inviata.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := e.get(sub.ID)
		if strings.Contains(e.timeline(m.ID), "scarto 00002") {
			if m.State != active.Inviata || m.Header(active.HeaderEsitoIncerto) != "si" {
				t.Errorf("state %s EsitoIncerto %q", m.State, m.Header(active.HeaderEsitoIncerto))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("00002 not recognised:\n%s", e.timeline(m.ID))
		}
		sleepShort()
	}
	accepted := e.simEvents(func(ev sim.Event) bool {
		return ev.Azione == "RiceviFile" && ev.NomeFile == nome && !ev.IdentificativoSdI.IsZero()
	})
	if len(accepted) != 2 {
		t.Errorf("RiceviFile calls %d, want 2 (the first and its refused repeat)", len(accepted))
	}
	notified := e.simEvents(func(ev sim.Event) bool { return ev.Azione == "Notifica" && ev.NomeFile == nome && ev.Tipo != sdi.NS })
	if len(notified) != 0 {
		t.Errorf("unexpected notifications %v", notified)
	}
}

// TestNotificationRedeliveredAndUnknown: the SdI delivering the same notification
// again is recognised (stored once, relayed once); a notification no invoice claims is
// kept as non-correlata for an operator.
func TestNotificationRedeliveredAndUnknown(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}})
	e.submit("a", "doppia.xml", invoice(pivaA, "DDDDDD", "N1"))
	m := e.waitSubmission("a", "doppia.xml", active.DecorrenzaTermini)
	ns := e.notifications(m.ID)
	if len(ns) != 2 {
		t.Fatalf("notifications %d", len(ns))
	}
	rc := ns[0]
	data, err := e.store().ReadFile(context.Background(), rc.ID, rc.FileName)
	if err != nil {
		t.Fatal(err)
	}
	client := sdicoop.NewSdIClient(e.pki.sdiHTTP, false, nil)
	url := "https://" + e.hubAddr + "/sdi/TrasmissioneFatture"
	if err := client.Notifica(context.Background(), url, sdi.RC, sdiID(t, m), rc.FileName, data); err != nil {
		t.Fatal(err)
	}
	if got := len(e.notifications(m.ID)); got != 2 {
		t.Errorf("after a redelivery: %d notifications", got)
	}
	if evs := e.timeline(rc.ID); !strings.Contains(evs, "duplicate") {
		t.Errorf("redelivery not recorded on the notification:\n%s", evs)
	}
	// A notification about a file the hub never sent.
	stranger := strings.ReplaceAll(string(data), string(sdiID(t, m)), "9999999999")
	stranger = strings.ReplaceAll(stranger, m.Header(active.HeaderNomeFile), "IT09876543217_99999.xml")
	if err := client.Notifica(context.Background(), url, sdi.RC, "9999999999", "IT09876543217_99999_RC_001.xml", []byte(stranger)); err != nil {
		t.Fatal(err)
	}
	var orphan *message.Message
	deadline := time.Now().Add(20 * time.Second)
	for orphan == nil || orphan.State != active.NotificaNonCorrelata || !strings.Contains(e.timeline(orphan.ID), "dead") {
		if time.Now().After(deadline) {
			t.Fatalf("orphan notification not set aside: %+v", orphan)
		}
		ids, _ := e.store().FindByKey(context.Background(), "sdi:9999999999")
		if len(ids) == 1 {
			orphan = e.get(ids[0])
		}
		sleepShort()
	}
	// A wrong caller: the listener admits only the SdI's certificate.
	other := e.otherClient(t)
	resp, err := other.Post(url, "text/xml", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("caller with another certificate: HTTP %d, want 403", resp.StatusCode)
	}
}

// hijackClose drops the connection of a request without an answer.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	c, _, err := hj.Hijack()
	if err == nil {
		c.Close()
	}
}

// proxy is a TCP relay in front of the simulator that can refuse connections, as an
// unreachable SdI does.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[b] = true, true
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *proxy) up() {
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(l)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	panic("proxy: cannot listen again on " + p.addr)
}

// TestUserNotEnabled: EI03 (the channel is not accredited for this certificate) is not
// retried: the send is dead-lettered for an operator, and replayed once fixed.
func TestUserNotEnabled(t *testing.T) {
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, transmitters: []string{"un-altro-hub"}})
	e.submit("a", "ei03.xml", invoice(pivaA, "AAAAAA", "E3"))
	m := e.waitSubmission("a", "ei03.xml", active.DaInviare)
	deadline := time.Now().Add(20 * time.Second)
	var dead bool
	for !dead {
		if time.Now().After(deadline) {
			t.Fatalf("send not dead-lettered:\n%s", e.timeline(m.ID))
		}
		jobs, _ := e.store().Jobs(context.Background(), m.ID)
		for _, j := range jobs {
			if j.Handler == active.HandlerSend && j.State == "dead" {
				dead = true
				if j.Attempts != 1 || !strings.Contains(j.LastError, "EI03") {
					t.Errorf("dead send: attempts %d, error %q", j.Attempts, j.LastError)
				}
			}
		}
		sleepShort()
	}
	if got := e.get(m.ID); got.State != active.DaInviare || got.Header(active.HeaderInvioInCorso) != "" {
		t.Errorf("state %s InvioInCorso %q", got.State, got.Header(active.HeaderInvioInCorso))
	}
	// The operator fixes the accreditation and replays: sent once.
	e.sim.Load().Close()
	e.opts.transmitters = nil
	e.startSim()
	if n, err := e.store().Replay(context.Background(), m.ID, 0); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	e.hub().Notify()
	m = e.waitState(m.ID, active.Accettata)
	if n := e.received(m.Header(active.HeaderNomeFile)); n != 1 {
		t.Errorf("received %d", n)
	}
}

// refusingPEC is an SdI PEC sender whose provider refuses every file before sending (a
// file too big for a PEC).
type refusingPEC struct{ calls atomic.Int32 }

func (r *refusingPEC) SendInvoice(ctx context.Context, nome string, data []byte) (string, error) {
	r.calls.Add(1)
	return "", channel.Permanent(fmt.Errorf("%s: oltre i 30 MB di una PEC (too big for a PEC)", nome))
}

// TestPECRefusedBeforeSending: a file the PEC channel refuses before anything leaves is
// dead-lettered at once (no wait for SdI notifications that cannot come), the in-flight
// mark cleared.
func TestPECRefusedBeforeSending(t *testing.T) {
	pec := &refusingPEC{}
	e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, sdiPEC: pec})
	e.submit("a", "grande.xml", invoice(pivaA, "AAAAAA", "G1"))
	m := e.waitSubmission("a", "grande.xml", active.DaInviare)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("send not dead-lettered:\n%s", e.timeline(m.ID))
		}
		jobs, _ := e.store().Jobs(context.Background(), m.ID)
		dead := false
		for _, j := range jobs {
			if j.Handler == active.HandlerSend && j.State == "dead" {
				dead = true
				if j.Attempts != 1 || !strings.Contains(j.LastError, "30 MB") {
					t.Errorf("dead send: attempts %d, error %q", j.Attempts, j.LastError)
				}
			}
		}
		if dead {
			break
		}
		sleepShort()
	}
	if got := e.get(m.ID); got.Header(active.HeaderInvioInCorso) != "" {
		t.Errorf("InvioInCorso left set: %q", got.Header(active.HeaderInvioInCorso))
	}
	if n := pec.calls.Load(); n != 1 {
		t.Errorf("SendInvoice called %d times", n)
	}
}
