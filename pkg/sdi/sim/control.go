package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"snodo/pkg/sdi"
)

// ControlHandler serves the simulator's control API, for integrators driving it from a
// shell (plain HTTP: keep it on a loopback address):
//
//	GET  /                  this help and the scenario table
//	POST /fatture?NomeFile=IT01234567890_00001.xml[&CodiceDestinatario=AAAAAA]
//	                        body: the invoice file; delivers it to RicezioneURL
//	                        → {"IdentificativoSdI":"…"} (HTTP 502 if the delivery failed)
//	POST /riconsegna?IdentificativoSdI=N        delivers invoice N again (same id)
//	POST /decorrenza?IdentificativoSdI=N        sends the DT of invoice N now
//	POST /indisponibile?servizio=RiceviFile|NotificaEsito&volte=N
//	                        the next N calls answer EI02 / ES02
//	GET  /eventi[?dopo=SEQ]  the events as JSON, optionally only those after SEQ
//
// Example: curl --data-binary @IT01234567890_FPA01.xml
// 'http://127.0.0.1:8091/fatture?NomeFile=IT01234567890_FPA01.xml'
func (s *Sim) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, controlHelp)
		fmt.Fprintf(w, "\nScenari per CodiceDestinatario (scenarios by CodiceDestinatario):\n%s", RulesHelp(s.rules, s.cfg.Default))
	})
	mux.HandleFunc("POST /fatture", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("NomeFile")
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sdi.MaxFileBytes+1))
		if err != nil {
			jsonError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("file oltre %d byte (file too large): %w", sdi.MaxFileBytes, err))
			return
		}
		id, err := s.DeliverInvoice(r.Context(), name, data, r.URL.Query().Get("CodiceDestinatario"))
		status := http.StatusOK
		resp := map[string]string{"IdentificativoSdI": string(id)}
		if err != nil {
			status = http.StatusBadGateway
			if id == "" {
				status = http.StatusBadRequest
			}
			resp["errore"] = err.Error()
		}
		writeJSON(w, status, resp)
	})
	withID := func(fn func(ctx context.Context, id sdi.IdentificativoSdI) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := sdi.ParseIdentificativoSdI(r.URL.Query().Get("IdentificativoSdI"))
			if err != nil {
				jsonError(w, http.StatusBadRequest, err)
				return
			}
			if err := fn(r.Context(), id); err != nil {
				jsonError(w, http.StatusConflict, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"IdentificativoSdI": string(id), "esito": "ok"})
		}
	}
	mux.HandleFunc("POST /riconsegna", withID(s.Redeliver))
	mux.HandleFunc("POST /decorrenza", withID(s.FireDT))
	mux.HandleFunc("POST /indisponibile", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("volte"))
		if err != nil || n < 0 {
			jsonError(w, http.StatusBadRequest, fmt.Errorf("volte=%q: atteso un numero (a number is expected)", r.URL.Query().Get("volte")))
			return
		}
		if err := s.Unavailable(r.URL.Query().Get("servizio"), n); err != nil {
			jsonError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"esito": "ok"})
	})
	mux.HandleFunc("GET /eventi", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.Atoi(r.URL.Query().Get("dopo"))
		evs := s.Events()
		out := evs[:0:0]
		for _, e := range evs {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	return mux
}

const controlHelp = `Simulatore SdI: API di controllo (SdI simulator: control API)

  POST /fatture?NomeFile=IT01234567890_00001.xml[&CodiceDestinatario=AAAAAA]   corpo: il file fattura
       consegna la fattura al RicezioneFatture configurato (delivers the invoice)
  POST /riconsegna?IdentificativoSdI=N      riconsegna con lo stesso IdentificativoSdI (redelivers)
  POST /decorrenza?IdentificativoSdI=N      invia subito la decorrenza termini (sends the DT now)
  POST /indisponibile?servizio=RiceviFile|NotificaEsito&volte=N
       le prossime N chiamate rispondono EI02 / ES02 (next N calls answer EI02 / ES02)
  GET  /eventi[?dopo=SEQ]                   eventi in JSON (events as JSON)

Esempio: curl --data-binary @IT01234567890_FPA01.xml 'http://127.0.0.1:8091/fatture?NomeFile=IT01234567890_FPA01.xml'
`

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func jsonError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"errore": err.Error()})
}

// Drop folder: files put in DropDir are delivered to the recipient like POST /fatture,
// then moved to DropDir/consegnati (with the IdentificativoSdI in a .id file) or to
// DropDir/errori (with the reason in a .errore.txt file). Only regular files with a
// name ending .xml, .xml.p7m or .zip are taken; others are left alone. A file is taken
// once its size is stable between two polls (so a copy in progress is not read).
const (
	dropDone   = "consegnati"
	dropFailed = "errori"
)

func (s *Sim) prepareDrop() error {
	for _, d := range []string{s.cfg.DropDir, filepath.Join(s.cfg.DropDir, dropDone), filepath.Join(s.cfg.DropDir, dropFailed)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("sim: cartella di deposito %s: %w", d, err)
		}
	}
	return nil
}

func (s *Sim) pollDrop(ctx context.Context) {
	entries, err := os.ReadDir(s.cfg.DropDir)
	if err != nil {
		s.log.Error("sdi-sim: lettura cartella di deposito (reading the drop folder)", "dir", s.cfg.DropDir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		lower := strings.ToLower(name)
		if !e.Type().IsRegular() || !(strings.HasSuffix(lower, ".xml") || strings.HasSuffix(lower, ".p7m") || strings.HasSuffix(lower, ".zip")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		s.mu.Lock()
		if s.dropSizes == nil {
			s.dropSizes = map[string]int64{}
		}
		prev, seen := s.dropSizes[name]
		s.dropSizes[name] = info.Size()
		s.mu.Unlock()
		if !seen || prev != info.Size() {
			continue // wait one poll for the size to settle
		}
		s.mu.Lock()
		delete(s.dropSizes, name)
		s.mu.Unlock()
		path := filepath.Join(s.cfg.DropDir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			s.log.Error("sdi-sim: lettura file depositato (reading a dropped file)", "file", path, "err", err)
			continue
		}
		id, err := s.DeliverInvoice(ctx, name, data, "")
		dest := filepath.Join(s.cfg.DropDir, dropDone, name)
		note, noteBody := dest+".id", string(id)+"\n"
		if err != nil {
			dest = filepath.Join(s.cfg.DropDir, dropFailed, name)
			note, noteBody = dest+".errore.txt", err.Error()+"\n"
		}
		if err := os.WriteFile(note, []byte(noteBody), 0o640); err != nil {
			s.log.Error("sdi-sim: scrittura esito deposito (writing the drop outcome)", "file", note, "err", err)
		}
		if err := os.Rename(path, dest); err != nil {
			s.log.Error("sdi-sim: spostamento file depositato (moving a dropped file)", "file", path, "err", err)
		}
	}
}
