package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/sdi"
)

func call(t *testing.T, method, url string, body []byte) (int, map[string]any, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req, _ := http.NewRequest(method, url, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, nil)
	ctl := httptest.NewServer(e.sim.ControlHandler())
	defer ctl.Close()

	status, _, help := call(t, http.MethodGet, ctl.URL+"/", nil)
	if status != 200 || !strings.Contains(help, "POST /fatture") || !strings.Contains(help, "CCCCCC   → mancata-consegna") {
		t.Fatalf("help: %d %s", status, help)
	}
	status, m, raw := call(t, http.MethodPost, ctl.URL+"/fatture?NomeFile=IT01234567890_FPA01.xml", fpa01)
	if status != 200 || m["IdentificativoSdI"] == "" {
		t.Fatalf("POST /fatture: %d %s", status, raw)
	}
	id := sdi.IdentificativoSdI(m["IdentificativoSdI"].(string))
	if _, ok := e.recv.invoices[id]; !ok {
		t.Fatal("invoice not delivered")
	}
	if status, _, raw := call(t, http.MethodPost, ctl.URL+"/riconsegna?IdentificativoSdI="+string(id), nil); status != 200 {
		t.Fatalf("riconsegna: %d %s", status, raw)
	}
	if status, _, raw := call(t, http.MethodPost, ctl.URL+"/decorrenza?IdentificativoSdI="+string(id), nil); status != 200 {
		t.Fatalf("decorrenza: %d %s", status, raw)
	}
	e.recv.note(t, id, sdi.DT)
	if status, m, _ := call(t, http.MethodPost, ctl.URL+"/decorrenza?IdentificativoSdI="+string(id), nil); status != 409 || !strings.Contains(m["errore"].(string), "already has an outcome") {
		t.Fatalf("second decorrenza: %d %v", status, m)
	}
	if status, _, _ := call(t, http.MethodPost, ctl.URL+"/indisponibile?servizio=NotificaEsito&volte=1", nil); status != 200 {
		t.Fatal("indisponibile")
	}
	if status, _, _ := call(t, http.MethodPost, ctl.URL+"/indisponibile?servizio=Boh&volte=1", nil); status != 400 {
		t.Fatal("unknown service accepted")
	}
	if status, m, _ := call(t, http.MethodPost, ctl.URL+"/fatture?NomeFile=../../x.xml", fpa01); status != 400 || m["errore"] == nil {
		t.Fatalf("hostile name: %d %v", status, m)
	}
	status, _, raw = call(t, http.MethodGet, ctl.URL+"/eventi?dopo=1", nil)
	var evs []Event
	if err := json.Unmarshal([]byte(raw), &evs); err != nil || status != 200 {
		t.Fatalf("eventi: %d %v", status, err)
	}
	if len(evs) != 2 || evs[0].Seq != 2 || evs[0].Dettaglio != "tentativo 2" {
		t.Fatalf("events %+v", evs)
	}
	var azioni []string
	for _, e := range evs {
		azioni = append(azioni, e.Azione)
	}
	if got := strings.Join(azioni, ","); !strings.Contains(got, "RiceviFatture,DecorrenzaTermini") {
		t.Fatalf("events %s", got)
	}
}

func TestDropFolder(t *testing.T) {
	drop := t.TempDir()
	e := newEnv(t, func(c *Config) { c.DropDir = drop; c.DropInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(drop, "IT01234567890_FPA01.xml"), fpa01, 0o644)
	os.WriteFile(filepath.Join(drop, "nome non valido.xml"), fpa01, 0o644)
	os.WriteFile(filepath.Join(drop, "leggimi.txt"), []byte("ignored"), 0o644)
	e.recv.wait(t, "the dropped invoice", func() bool { return len(e.recv.invoices) == 1 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		idFile, err1 := os.ReadFile(filepath.Join(drop, dropDone, "IT01234567890_FPA01.xml.id"))
		why, err2 := os.ReadFile(filepath.Join(drop, dropFailed, "nome non valido.xml.errore.txt"))
		if err1 == nil && err2 == nil {
			id := sdi.IdentificativoSdI(strings.TrimSpace(string(idFile)))
			if _, ok := e.recv.invoices[id]; !ok {
				t.Fatalf("id file says %s", id)
			}
			if !strings.Contains(string(why), "NomeFile") {
				t.Fatalf("reason %s", why)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("drop folder not processed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(drop, "leggimi.txt")); err != nil {
		t.Fatal("a non-invoice file was moved")
	}
	if _, err := os.Stat(filepath.Join(drop, "IT01234567890_FPA01.xml")); !os.IsNotExist(err) {
		t.Fatal("delivered file left in the drop folder")
	}
}
