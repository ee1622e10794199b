package sdisim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/passive"
	"snodo/pkg/flow/sdisim"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
)

const enteRoute = `ente: {id: comune-esempio, name: Comune di Esempio, codice_fiscale: "00000000000", offices: [UFX000, UFX001]}
passive:
  protocol: {channel: fs, url: "file:comune-esempio/protocollo"}
  accounting: {channel: fs, url: "file:comune-esempio/contabilita"}
  notifications: {channel: fs, url: "file:comune-esempio/notifiche"}
  outcome: {channel: fs, url: "file:comune-esempio/esiti", settings: {poll: 20ms, min_age: -1ns}}
`

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startHub runs a hub with the simulator and the passive cycle, as `make run` does.
func startHub(t *testing.T, simYAML, httpAddr string) (*hub.Hub, *sdisim.Module, string) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(dir, "routes", "comune-esempio.yaml"), []byte(enteRoute), 0o644)
	cfgYAML := fmt.Sprintf("listen: {http: %s}\ndata_dir: data\nroutes_dir: routes\nengine: {poll: 20ms, retry: {initial: 20ms, max: 100ms}}\n%s", httpAddr, simYAML)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte(cfgYAML), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind()), CheckRules: flowkit.CheckRules}
	cfg, err := l.LoadConfig(filepath.Join(dir, "snodo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	sm := sdisim.New()
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels,
		Modules: []hub.Module{sm, passive.New(passive.Options{AutoECDelay: 100 * time.Millisecond})}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("hub did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("hub did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	select {
	case <-sm.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not start")
	}
	return h, sm, cfg.DataDir
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
	}
	t.Fatalf("%s did not appear", path)
	return nil
}

func waitState(t *testing.T, h *hub.Hub, id string, state message.State) {
	t.Helper()
	var last message.State
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ids, _ := h.Store.FindByKey(context.Background(), "sdi:"+id)
		for _, mid := range ids {
			if m, err := h.Store.Get(context.Background(), mid); err == nil && m.Kind == message.KindInvoice {
				if last = m.State; last == state {
					return
				}
			}
		}
	}
	t.Fatalf("invoice %s: state %q, want %s", id, last, state)
}

func demo(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../../../testdata/passive/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The make-run walk-through: drop an invoice, it reaches the protocol folder; the ente
// drops an EC, the simulator answers ES01; an invoice left unanswered gets its DT.
func TestWalkThrough(t *testing.T) {
	for _, c := range []struct{ name, simYAML, http string }{
		{"own listener", "simulators: {sdi: {enabled: true, listen: 127.0.0.1:0, options: {dt: 700ms, notify: 10ms, retry: 20ms}}}", "127.0.0.1:0"},
		{"mounted under /sim/sdi", "simulators: {sdi: {enabled: true, options: {dt: 700ms, notify: 10ms, retry: 20ms}}}", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := c.http
			if addr == "" {
				addr = freeAddr(t)
			}
			h, _, data := startHub(t, c.simYAML, addr)
			if u := h.Config.SdI.RiceviNotificaURL; !strings.HasSuffix(u, "/SdIRiceviNotifica") || !strings.HasPrefix(u, "http://127.0.0.1:") {
				t.Fatalf("the hub's SdI client points at %q", u)
			}
			in := filepath.Join(data, "sdi-sim", "in")
			ente := filepath.Join(data, "comune-esempio")
			// 1. drop an invoice for UFX000
			os.WriteFile(filepath.Join(in, "IT01234567890_X0001.xml"), demo(t, "IT01234567890_X0001.xml"), 0o644)
			waitFile(t, filepath.Join(ente, "protocollo", "IT01234567890_X0001.xml"))
			waitFile(t, filepath.Join(ente, "contabilita", "IT01234567890_X0001.xml"))
			id := strings.TrimSpace(string(waitFile(t, filepath.Join(in, "consegnati", "IT01234567890_X0001.xml.id"))))
			waitState(t, h, id, passive.ConsegnataContabilita)
			// 2. the ente drops its EC01; the simulated SdI answers ES01
			ec := strings.NewReplacer("@ID@", id, "@NUMERO@", "X-1").Replace(string(demo(t, "esito-EC01.xml.tmpl")))
			os.WriteFile(filepath.Join(ente, "esiti", "IT01234567890_X0001_EC_001.xml"), []byte(ec), 0o644)
			waitState(t, h, id, passive.EsitoAccettato)
			// 3. an invoice left unanswered, sent through the control API: DT
			req, _ := http.NewRequest(http.MethodPost, controlURL(h)+"fatture?NomeFile=IT01234567890_X0002.xml",
				bytes.NewReader(demo(t, "IT01234567890_X0002.xml")))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct{ IdentificativoSdI, Errore string }
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || got.IdentificativoSdI == "" {
				t.Fatalf("POST fatture: %d %s", resp.StatusCode, body)
			}
			waitFile(t, filepath.Join(ente, "notifiche", "IT01234567890_X0002_DT_001.xml"))
			waitState(t, h, got.IdentificativoSdI, passive.DecorrenzaTermini)
		})
	}
}

// controlURL is the simulator's control API: where its services are.
func controlURL(h *hub.Hub) string {
	return strings.TrimSuffix(h.Config.SdI.RiceviNotificaURL, "SdIRiceviNotifica")
}

func TestDisabledDoesNothing(t *testing.T) {
	h, err := hub.New(hub.Options{Config: &route.Config{}, Routes: &route.Routes{}, Channels: channel.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sdisim.New().Init(h); err != nil {
		t.Fatal(err)
	}
	if h.Config.SdI.RiceviNotificaURL != "" {
		t.Fatal("a disabled simulator set the SdI URLs")
	}
}

func TestOptionsStrict(t *testing.T) {
	cases := []struct {
		yaml string
		ok   bool
	}{
		{"dt: 2m\nrules: {ZZZZZZ: consegna-dt}", true},
		{"dt: due minuti", false},
		{"decorrenza: 2m", false},
	}
	for _, c := range cases {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(c.yaml), &n); err != nil {
			t.Fatal(err)
		}
		_, err := sdisim.DecodeOptions(n.Content[0])
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.yaml, err)
		}
	}
}

// FuzzDecodeOptions: any options block is decoded or refused with an error; never a panic.
func FuzzDecodeOptions(f *testing.F) {
	f.Add("dt: 2m\nrules: {ZZZZZZ: consegna-dt}\ndefault: consegna-ec01")
	f.Add("dt: [1, 2]")
	f.Add("rules: {a: {b: c}}")
	f.Add("&a [*a, *a]")
	f.Fuzz(func(t *testing.T, src string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(src), &n) != nil || len(n.Content) == 0 {
			return
		}
		sdisim.DecodeOptions(n.Content[0])
	})
}
