package active

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// newTestModule initialises the module on a hub that is not running, over a real
// SQLite store, with the given route files.
func newTestModule(t *testing.T, routes map[string]string) *Module {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	for n, body := range routes {
		if err := os.WriteFile(filepath.Join(dir, "routes", n+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "snodo.yaml")
	os.WriteFile(cfgPath, []byte("data_dir: data\nroutes_dir: routes\n"), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind())}
	cfg, err := l.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.Store = st
	m := New(Options{})
	if err := m.Init(h); err != nil {
		t.Fatal(err)
	}
	return m
}

const (
	routeA = `ente: {id: a, name: Comune A, codice_fiscale: "80012345676", offices: [UFA000], pec: protocollo@pec.a.example}
active:
  submit: {channel: fs, url: "file:a/in"}
  notifications: {channel: fs, url: "file:a/out"}
`
	routeB = `ente: {id: b, name: Comune B, codice_fiscale: "80001112228", offices: [UFB000], pec: Ragioneria@PEC.b.example}
active:
  submit: {channel: fs, url: "file:b/in"}
  notifications: {channel: fs, url: "file:b/out"}
`
	routeOff = `ente: {id: off, name: Comune Spento, codice_fiscale: "01234567897", offices: [UFO000]}
active:
  enabled: false
  submit: {channel: fs, url: "file:off/in"}
`
)

// TestAdmit: who submitted, and whether the hub takes it (PEC senders matched against
// ente.pec, case-insensitively; disabled enti; missing or hostile files).
func TestAdmit(t *testing.T) {
	m := newTestModule(t, map[string]string{"a": routeA, "b": routeB, "off": routeOff})
	a, _ := m.h.Routes.Ente("a")
	off, _ := m.h.Routes.Ente("off")
	pec := func(from string) map[string]string {
		return map[string]string{HeaderPECMittente: from, headerPECTipo: pecPostaCertificata}
	}
	cases := []struct {
		name   string
		ente   *route.Ente
		in     channel.Inbound
		owner  string
		code   string
		answer bool
	}{
		{"file drop", a, channel.Inbound{FileName: "f.xml", Data: []byte("<x/>")}, "a", "", true},
		{"PEC from the ente", a, channel.Inbound{FileName: "f.xml", Data: []byte("<x/>"), Headers: pec("PROTOCOLLO@pec.a.example")}, "a", "", true},
		{"PEC from another ente", a, channel.Inbound{FileName: "f.xml", Data: []byte("<x/>"), Headers: pec("ragioneria@pec.b.example")}, "b", "", true},
		{"PEC from a stranger", a, channel.Inbound{FileName: "f.xml", Data: []byte("<x/>"), Headers: pec("chiunque@example.com")}, "a", FA03, false},
		{"PEC without attachments", a, channel.Inbound{FileName: "postacert.eml", Data: []byte("x"),
			Headers: map[string]string{HeaderPECMittente: "protocollo@pec.a.example", headerPECSenzaAllegati: "true"}}, "a", FA05, true},
		{"active cycle disabled", off, channel.Inbound{FileName: "f.xml", Data: []byte("<x/>")}, "off", FA03, true},
		{"empty file", a, channel.Inbound{FileName: "f.xml"}, "a", FA05, true},
		{"hostile name", a, channel.Inbound{FileName: "../../etc/passwd", Data: []byte("<x/>")}, "a", FA04, true},
		{"control characters", a, channel.Inbound{FileName: "f\x00.xml", Data: []byte("<x/>")}, "a", FA04, true},
	}
	for _, c := range cases {
		owner, code, why, answer := m.admit(c.ente, c.in)
		if owner.ID() != c.owner || code != c.code || answer != c.answer || (code != "") != (why != "") {
			t.Errorf("%s: owner %s code %q answer %v (%s), want %s %q %v", c.name, owner.ID(), code, answer, why, c.owner, c.code, c.answer)
		}
	}
}

// TestSinkPEC: what the sink stores for PECs: another ente's submission under that
// ente; a stranger's refused without an answer; a PEC receipt not at all.
func TestSinkPEC(t *testing.T) {
	m := newTestModule(t, map[string]string{"a": routeA, "b": routeB})
	a, _ := m.h.Routes.Ente("a")
	sink := &submitSink{m: m, ente: a, phase: route.ActiveSubmit}
	ctx := context.Background()
	accept := func(from, dedup string, h map[string]string) channel.Accepted {
		t.Helper()
		headers := map[string]string{HeaderPECMittente: from, headerPECTipo: pecPostaCertificata}
		for k, v := range h {
			headers[k] = v
		}
		acc, err := sink.Accept(ctx, channel.Inbound{FileName: "fattura.xml", Data: []byte("<x/>"), Headers: headers, DedupKey: dedup})
		if err != nil {
			t.Fatal(err)
		}
		return acc
	}
	acc := accept("ragioneria@pec.b.example", "pec:1", nil)
	msg, _ := m.h.Store.Get(ctx, acc.MessageID)
	jobs, _ := m.h.Store.Jobs(ctx, acc.MessageID)
	if msg.Ente != "b" || msg.State != Ricevuta || len(jobs) != 1 || jobs[0].Handler != HandlerCheck {
		t.Errorf("other ente's PEC: ente %s state %s jobs %v", msg.Ente, msg.State, jobs)
	}
	if again := accept("ragioneria@pec.b.example", "pec:1", nil); !again.Duplicate || again.MessageID != acc.MessageID {
		t.Errorf("redelivered PEC stored again: %+v", again)
	}
	acc = accept("chiunque@example.com", "pec:2", nil)
	msg, _ = m.h.Store.Get(ctx, acc.MessageID)
	jobs, _ = m.h.Store.Jobs(ctx, acc.MessageID)
	if msg.State != RifiutataValidazione || msg.Header(HeaderCodice) != FA03 || len(jobs) != 0 {
		t.Errorf("stranger's PEC: state %s code %s jobs %v", msg.State, msg.Header(HeaderCodice), jobs)
	}
	r, err := m.Receipt(ctx, acc.MessageID)
	if err != nil || r.Codice != FA03 {
		t.Errorf("stranger's receipt: %+v %v", r, err)
	}
	acc = accept("posta@provider.example", "pec:3", map[string]string{headerPECTipo: "avvenuta-consegna"})
	if acc.MessageID != "" {
		t.Errorf("a PEC receipt was stored as a submission: %s", acc.MessageID)
	}
	ms, _ := m.h.Store.List(ctx, store.Filter{Flow: string(message.FlowActive)})
	if len(ms) != 2 {
		t.Errorf("%d messages stored, want 2", len(ms))
	}
}
