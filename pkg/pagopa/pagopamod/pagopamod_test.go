package pagopamod_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/hub"
	"snodo/pkg/pagopa/nodesim"
	"snodo/pkg/pagopa/pagopamod"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/route"
)

const token = "tok-comune-esempio-0123456789"

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestHubEndToEnd runs a hub with the module: an ente creates a position through the
// API, the Node simulator pays it (the receipt sent twice), the receipt file reaches the
// ente's folder once; a CSV dropped in the ente's positions folder is loaded and its
// outcome file delivered.
func TestHubEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	cfgYAML := fmt.Sprintf(`listen: {http: %s}
data_dir: data
routes_dir: routes
store: {driver: sqlite}
engine: {workers: 2, poll: 20ms, lease: 10s, grace: 2s, retry: {initial: 20ms, max: 200ms, max_attempts: 8}}
pagopa:
  broker_id: "77777777777"
  stations: [{id: "77777777777_01", segregation_code: "01"}]
`, addr)
	routeYAML := `ente: {id: comune, name: Comune di Esempio, codice_fiscale: "01234567897"}
auth: {tokens: ["` + token + `"]}
payments:
  station: "77777777777_01"
  iban: IT60X0542811101000000123456
  positions: {channel: fs, url: "file:comune/posizioni", settings: {poll: 20ms, min_age: -1ns}}
  outcomes: {channel: fs, url: "file:comune/esiti"}
  receipts: {channel: fs, url: "file:comune/ricevute"}
`
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte(cfgYAML), 0o644)
	os.WriteFile(filepath.Join(dir, "routes", "comune.yaml"), []byte(routeYAML), 0o644)
	wd, _ := os.Getwd()
	os.Chdir(dir)
	t.Cleanup(func() { os.Chdir(wd) })

	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind())}
	cfg, err := l.LoadConfig("snodo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	mod := pagopamod.New(pagopamod.Options{})
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels, Modules: []hub.Module{mod},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("hub: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("hub not ready")
	}
	base := "http://" + addr

	// The ente creates a position.
	body := `{"iupd":"E2E-1","description":"Retta asilo nido","debtor":{"type":"F","id":"RSSMRA30A01H501I","name":"Mario Rossi"},
		"amount":15000,"dueDate":"2099-01-31","transfers":[{"amount":15000,"iban":"IT60X0542811101000000123456","remittanceInformation":"Asilo","category":"9/0101108IM"}]}`
	req, _ := http.NewRequest("POST", base+pagopamod.PositionsPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
	req, _ = http.NewRequest("GET", base+pagopamod.PositionsPath+"/E2E-1", nil)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Fatalf("without token: %d", resp.StatusCode)
	}
	p, err := mod.DB().Get(ctx, "01234567897", "E2E-1")
	if err != nil {
		t.Fatal(err)
	}

	// The Node pays it; the receipt is sent twice.
	sim, err := nodesim.New(nodesim.Config{HubURL: base + pagopamod.PaForNodePath, IDBrokerPA: "77777777777", IDStation: "77777777777_01"})
	if err != nil {
		t.Fatal(err)
	}
	pay := sim.Pay(ctx, "01234567897", p.Options[0].NoticeNumber, nodesim.PayOptions{Duplicate: true})
	if !pay.ReceiptAcknowledged || pay.Fault != "" {
		t.Fatalf("payment:\n%s", pay.Summary())
	}
	receipts := waitFiles(t, filepath.Join(dir, "data", "comune", "ricevute"), 1)
	if !strings.Contains(receipts[0], pay.ReceiptID) {
		t.Fatalf("receipt file %s", receipts[0])
	}
	if p, _ := mod.DB().Get(ctx, "01234567897", "E2E-1"); p.State != position.StatePaid {
		t.Fatal(p.State)
	}

	// The SOAP service for enti answers on its path, with the same tokens.
	soapReq := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:cancellazioneEC xmlns:m="urn:snodo:pagopa:IntegraEcDifferito:1">` +
		`<requestBase><codiceEnte>01234567897</codiceEnte></requestBase><numeroDocumento>NOPE</numeroDocumento></m:cancellazioneEC></s:Body></s:Envelope>`
	req, _ = http.NewRequest("POST", base+pagopamod.EcDifferitoPath, strings.NewReader(soapReq))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"cancellazioneEC"`)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(out, []byte("<codiceEsito>03</codiceEsito>")) {
		t.Fatalf("IntegraEcDifferito: %d %s", resp.StatusCode, out)
	}

	// A CSV file dropped by the ente is loaded; its outcome comes back.
	csv := "idA2A,idPendenza,idDominio,causale,importo,tipoSoggettoPagatore,identificativoPagatore,anagraficaPagatore,idVoce1,importoVoce1,descrizioneVoce1,ibanAccreditoVoce1,tipoContabilitaVoce1,codiceContabilitaVoce1\n" +
		"A,CSV-1,01234567897,Mensa,12.00,F,RSSMRA30A01H501I,Mario Rossi,1,12.00,Mensa,IT60X0542811101000000123456,ALTRO,0101108IM\n" +
		"A,CSV-2,01234567897,Mensa,12.00,F,RSSMRA30A01H501X,Mario Rossi,1,12.00,Mensa,IT60X0542811101000000123456,ALTRO,0101108IM\n"
	in := filepath.Join(dir, "data", "comune", "posizioni")
	os.MkdirAll(in, 0o755)
	os.WriteFile(filepath.Join(in, "ottobre.csv.tmp"), []byte(csv), 0o644)
	os.Rename(filepath.Join(in, "ottobre.csv.tmp"), filepath.Join(in, "ottobre.csv"))
	outcomes := waitFiles(t, filepath.Join(dir, "data", "comune", "esiti"), 1)
	data, _ := os.ReadFile(filepath.Join(dir, "data", "comune", "esiti", outcomes[0]))
	if !strings.HasSuffix(outcomes[0], pagopamod.OutcomeSuffix) || !bytes.Contains(data, []byte("CSV-1,301")) || !bytes.Contains(data, []byte("CSV-2,,,KO,SCARTATA")) {
		t.Fatalf("outcome %s:\n%s", outcomes[0], data)
	}
	if _, err := mod.DB().Get(ctx, "01234567897", "CSV-1"); err != nil {
		t.Fatal(err)
	}
	// Nothing more arrives: one receipt, one outcome.
	time.Sleep(300 * time.Millisecond)
	if n := len(listFiles(filepath.Join(dir, "data", "comune", "ricevute"))); n != 1 {
		t.Fatalf("%d receipt files", n)
	}
}

func listFiles(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func waitFiles(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if f := listFiles(dir); len(f) >= n {
			return f
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no file in %s", dir)
	return nil
}
