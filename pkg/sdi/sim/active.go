package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// riceviFile answers SdIRiceviFile as the SdI does, then schedules the notifications.
func (s *Sim) riceviFile(ctx context.Context, req *sdicoop.FileSdIAccoglienza, p sdicoop.Peer) (*sdicoop.RispostaSdIRiceviFile, error) {
	now := sdi.DataOra{Time: s.cfg.Now()}
	refuse := func(code, why string) (*sdicoop.RispostaSdIRiceviFile, error) {
		s.record(Event{Azione: "RiceviFile", NomeFile: req.NomeFile, Dettaglio: code, Err: why})
		return &sdicoop.RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now, Errore: code}, nil
	}
	if len(s.cfg.AllowedTransmitters) > 0 && !slices.Contains(s.cfg.AllowedTransmitters, p.ClientCN) {
		return refuse(sdicoop.EI03, fmt.Sprintf("certificato %q non abilitato (client not enabled)", p.ClientCN))
	}
	s.mu.Lock()
	down := s.unavailableRF > 0
	if down {
		s.unavailableRF--
	}
	s.mu.Unlock()
	if down {
		return refuse(sdicoop.EI02, "servizio non disponibile su richiesta (unavailable on demand)")
	}
	if len(req.File) == 0 {
		return refuse(sdicoop.EI01, "file vuoto (empty file)")
	}
	verdict, err := s.val.Validate(ctx, req.NomeFile, req.File)
	if err != nil {
		return refuse(sdicoop.EI02, "validazione non riuscita (validation failed): "+err.Error())
	}
	id, err := s.state.nextID()
	if err != nil {
		return refuse(sdicoop.EI02, err.Error())
	}
	if len(verdict.Errori) == 0 || verdict.Errori[0].Codice != "00001" {
		fresh, err := s.state.addName(req.NomeFile)
		if err != nil {
			return refuse(sdicoop.EI02, err.Error())
		}
		if !fresh {
			verdict.Errori = []sdi.Errore{{Codice: "00002", Descrizione: "Nome file duplicato: " + req.NomeFile}}
		}
	}
	sc := s.scenarioFor(verdict.CodiceDestinatario)
	f := &fattura{id: id, nome: req.NomeFile, data: req.File, verdict: verdict, scenario: sc, attivo: true,
		ricevuta: now.Time, esiti: map[string]string{}, seq: map[sdi.Tipo]int{}}
	s.mu.Lock()
	s.fatture[id] = f
	s.mu.Unlock()
	s.record(Event{Azione: "RiceviFile", IdentificativoSdI: id, NomeFile: req.NomeFile, Dettaglio: string(sc)})
	s.after(s.cfg.Timing.Notify, func(ctx context.Context) { s.process(ctx, f) })
	return &sdicoop.RispostaSdIRiceviFile{IdentificativoSdI: id, DataOraRicezione: now}, nil
}

func (f *fattura) b2b() bool { return f.verdict != nil && f.verdict.Formato == "FPR12" }

// outcomes reports whether EC, NE, DT and AT exist for the file (FPA12 only).
func (f *fattura) outcomes() bool { return !f.b2b() }

// process runs the scenario of a file received from the transmitter.
func (s *Sim) process(ctx context.Context, f *fattura) {
	if len(f.verdict.Errori) > 0 {
		s.notifyNS(ctx, f, f.verdict.Errori)
		return
	}
	switch f.scenario {
	case Scarto:
		s.notifyNS(ctx, f, []sdi.Errore{{Codice: "00311", Descrizione: fmt.Sprintf("1.1.4 <CodiceDestinatario> non valido: %s (scenario di scarto del simulatore)", f.verdict.CodiceDestinatario)}})
	case Silenzio:
	case MancataConsegna:
		s.mancataConsegna(ctx, f, "Il destinatario non è raggiungibile (scenario del simulatore)")
	case Recapito:
		err := s.deliver(ctx, f)
		if err != nil {
			s.mancataConsegna(ctx, f, "Recapito non riuscito: "+err.Error())
			return
		}
		s.notifyRC(ctx, f)
		if f.outcomes() {
			s.scheduleDT(f)
		}
	default: // ConsegnaEC01, ConsegnaEC02, ConsegnaDT
		s.notifyRC(ctx, f)
		if !f.outcomes() {
			return
		}
		switch f.scenario {
		case ConsegnaEC01, ConsegnaEC02:
			esito := sdi.EC01
			if f.scenario == ConsegnaEC02 {
				esito = sdi.EC02
			}
			s.after(s.cfg.Timing.EC, func(ctx context.Context) { s.buyerEsito(ctx, f, esito) })
		case ConsegnaDT:
			s.scheduleDT(f)
		}
	}
}

// notify sends a message to the transmitter and records it.
func (s *Sim) notify(ctx context.Context, f *fattura, tipo sdi.Tipo, m sdi.Messaggio) {
	s.mu.Lock()
	name := f.messageName(tipo)
	s.mu.Unlock()
	data, err := sdi.Marshal(m)
	if err == nil {
		data, err = s.sign(data)
	}
	if err == nil && tipo == sdi.AT {
		data, err = sdi.ZipAT(name, data, f.nome, f.data)
	}
	ev := Event{Azione: "Notifica", IdentificativoSdI: f.id, NomeFile: f.nome, Tipo: tipo, Dettaglio: name, File: data}
	if err != nil {
		ev.Err = err.Error()
		s.record(ev)
		return
	}
	if s.cfg.TrasmissioneURL == "" {
		ev.Err = "nessun TrasmissioneURL configurato (no transmitter endpoint configured)"
		s.record(ev)
		return
	}
	attempts, err := s.deliverWithRetry(ctx, func(ctx context.Context) error {
		return s.client.Notifica(ctx, s.cfg.TrasmissioneURL, tipo, f.id, name, data)
	})
	if err != nil {
		ev.Err = fmt.Sprintf("dopo %d tentativi (after %d attempts): %v", attempts, attempts, err)
	}
	s.record(ev)
}

func (s *Sim) hash(f *fattura) string {
	sum := sha256.Sum256(f.data)
	return hex.EncodeToString(sum[:])
}

func (s *Sim) destinatario(f *fattura) *sdi.Destinatario {
	return &sdi.Destinatario{Codice: orDefault(f.verdict.CodiceDestinatario, "0000000"), Descrizione: "Destinatario simulato (" + string(f.scenario) + ")"}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Sim) notifyNS(ctx context.Context, f *fattura, errs []sdi.Errore) {
	ns := &sdi.NotificaScarto{IdentificativoSdI: f.id, NomeFile: f.nome, DataOraRicezione: sdi.DataOra{Time: f.ricevuta},
		ListaErrori: sdi.ListaErrori{Errore: errs}, MessageId: s.nextMessageID()}
	if len(ns.ListaErrori.Errore) > 200 {
		ns.ListaErrori.Errore = ns.ListaErrori.Errore[:200]
	}
	if f.b2b() {
		ns.B2B = true
		ns.Hash = s.hash(f)
		for i := range ns.ListaErrori.Errore {
			if ns.ListaErrori.Errore[i].Suggerimento == "" {
				ns.ListaErrori.Errore[i].Suggerimento = "Correggere il file e inviarlo di nuovo con un nuovo nome"
			}
		}
	}
	s.notify(ctx, f, sdi.NS, ns)
}

func (s *Sim) notifyRC(ctx context.Context, f *fattura) {
	rc := &sdi.RicevutaConsegna{IdentificativoSdI: f.id, NomeFile: f.nome, DataOraRicezione: sdi.DataOra{Time: f.ricevuta},
		DataOraConsegna: sdi.DataOra{Time: s.cfg.Now()}, Destinatario: s.destinatario(f), MessageId: s.nextMessageID()}
	if f.b2b() {
		rc.B2B, rc.Hash = true, s.hash(f)
	}
	s.notify(ctx, f, sdi.RC, rc)
}

func (s *Sim) mancataConsegna(ctx context.Context, f *fattura, why string) {
	mc := &sdi.NotificaMancataConsegna{IdentificativoSdI: f.id, NomeFile: f.nome, DataOraRicezione: sdi.DataOra{Time: f.ricevuta},
		Descrizione: clip255(why), MessageId: s.nextMessageID()}
	if f.b2b() {
		mc.B2B, mc.Hash = true, s.hash(f)
		mc.DataMessaADisposizione = &sdi.Data{Time: s.cfg.Now()}
		s.notify(ctx, f, sdi.MC, mc)
		return
	}
	s.notify(ctx, f, sdi.MC, mc)
	s.after(s.cfg.Timing.AT, func(ctx context.Context) {
		at := &sdi.AttestazioneTrasmissioneFattura{IdentificativoSdI: f.id, NomeFile: f.nome, DataOraRicezione: sdi.DataOra{Time: f.ricevuta},
			Destinatario: *s.destinatario(f), MessageId: s.nextMessageID(), HashFileOriginale: s.hash(f),
			Note: "Attestazione di avvenuta trasmissione della fattura con impossibilità di recapito"}
		s.notify(ctx, f, sdi.AT, at)
	})
}

// buyerEsito is the simulated buyer's outcome, forwarded as NE.
func (s *Sim) buyerEsito(ctx context.Context, f *fattura, esito string) {
	s.mu.Lock()
	if f.dtInviata || len(f.esiti) > 0 {
		s.mu.Unlock()
		return
	}
	f.esiti[""] = esito
	s.mu.Unlock()
	descr := "Fattura accettata dal committente simulato"
	if esito == sdi.EC02 {
		descr = "Fattura rifiutata dal committente simulato"
	}
	ec := sdi.EsitoCommittente{IdentificativoSdI: f.id, Esito: esito, Descrizione: descr, MessageIdCommittente: s.nextMessageID()}
	if len(f.verdict.Fatture) == 1 && f.verdict.Fatture[0].NumeroFattura != "" {
		r := f.verdict.Fatture[0]
		ec.RiferimentoFattura = &r
	}
	s.sendNE(ctx, f, ec)
}

func (s *Sim) sendNE(ctx context.Context, f *fattura, ec sdi.EsitoCommittente) {
	ne := &sdi.NotificaEsito{IdentificativoSdI: f.id, NomeFile: f.nome, EsitoCommittente: sdi.EsitoCommittenteNE{EsitoCommittente: ec},
		MessageId: s.nextMessageID()}
	s.notify(ctx, f, sdi.NE, ne)
}

// scheduleDT arms the DT of a delivered FPA12 file.
func (s *Sim) scheduleDT(f *fattura) {
	id := s.after(s.cfg.Timing.DT, func(ctx context.Context) { s.decorrenza(ctx, f) })
	s.mu.Lock()
	f.dtTimer = id
	s.mu.Unlock()
}

// FireDT makes the DT of invoice id happen now (the clock of the 15 days, advanced). It
// fails when the invoice is unknown or already has an outcome or a DT.
func (s *Sim) FireDT(ctx context.Context, id sdi.IdentificativoSdI) error {
	f := s.lookup(id)
	if f == nil {
		return fmt.Errorf("sim: IdentificativoSdI %s sconosciuto (unknown)", id)
	}
	s.mu.Lock()
	s.cancelTimer(f.dtTimer)
	done := f.dtInviata || len(f.esiti) > 0
	s.mu.Unlock()
	if done {
		return fmt.Errorf("sim: la fattura %s ha già un esito o una decorrenza termini (already has an outcome)", id)
	}
	s.decorrenza(ctx, f)
	return nil
}

// decorrenza sends the DT to the transmitter (files received by RiceviFile) and to the
// recipient (files delivered by RiceviFatture).
func (s *Sim) decorrenza(ctx context.Context, f *fattura) {
	s.mu.Lock()
	if f.dtInviata || len(f.esiti) > 0 {
		s.mu.Unlock()
		return
	}
	f.dtInviata = true
	recapitata, attivo := f.recapitata, f.attivo
	s.mu.Unlock()
	dt := func() *sdi.NotificaDecorrenzaTermini {
		return &sdi.NotificaDecorrenzaTermini{IdentificativoSdI: f.id, NomeFile: f.nome, MessageId: s.nextMessageID(),
			Descrizione: "Decorsi i termini per la notifica di esito committente (simulatore: " + s.cfg.Timing.DT.String() + " invece di 15 giorni)"}
	}
	if recapitata {
		s.sendDTRecipient(ctx, f, dt())
	}
	if attivo {
		s.notify(ctx, f, sdi.DT, dt())
	}
}

func (s *Sim) sendDTRecipient(ctx context.Context, f *fattura, m *sdi.NotificaDecorrenzaTermini) {
	s.mu.Lock()
	name := f.messageName(sdi.DT)
	s.mu.Unlock()
	data, err := sdi.Marshal(m)
	if err == nil {
		data, err = s.sign(data)
	}
	ev := Event{Azione: "DecorrenzaTermini", IdentificativoSdI: f.id, NomeFile: f.nome, Tipo: sdi.DT, Dettaglio: name, File: data}
	if err == nil {
		var attempts int
		attempts, err = s.deliverWithRetry(ctx, func(ctx context.Context) error {
			return s.client.NotificaDecorrenzaTermini(ctx, s.cfg.RicezioneURL, f.id, name, data)
		})
		if err != nil {
			err = fmt.Errorf("dopo %d tentativi (after %d attempts): %w", attempts, attempts, err)
		}
	}
	if err != nil {
		ev.Err = err.Error()
	}
	s.record(ev)
}
