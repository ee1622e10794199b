package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// DeliverInvoice delivers an invoice file to the recipient at Config.RicezioneURL with
// its metadata (MT), as the SdI does in the passive cycle: a new IdentificativoSdI, up to
// Timing.Attempts attempts (TentativiInvio counts them), then, for FPA12, the DT after
// Timing.DT unless the recipient's EC arrives first. codiceDestinatario "" takes the
// one in the invoice. The identifier is returned even when the delivery failed.
func (s *Sim) DeliverInvoice(ctx context.Context, fileName string, data []byte, codiceDestinatario string) (sdi.IdentificativoSdI, error) {
	if err := sdicoop.CheckNomeFile("NomeFile", fileName); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	if len(data) == 0 {
		return "", fmt.Errorf("sim: %s: file vuoto (empty file)", fileName)
	}
	if s.cfg.RicezioneURL == "" {
		return "", errors.New("sim: nessun RicezioneURL configurato: impostare l'indirizzo RicezioneFatture del destinatario (no recipient endpoint configured)")
	}
	verdict, err := s.val.Validate(ctx, fileName, data)
	if err != nil {
		return "", fmt.Errorf("sim: %s: %w", fileName, err)
	}
	if codiceDestinatario != "" {
		verdict.CodiceDestinatario = codiceDestinatario
	}
	if len(verdict.Errori) > 0 {
		// The real SdI would never deliver it; the simulator does, for tests of the
		// recipient's own checks, and says so.
		s.log.Warn("sdi-sim: consegna di un file che l'SdI scarterebbe (delivering a file the SdI would reject)",
			"NomeFile", fileName, "errori", len(verdict.Errori), "primo", verdict.Errori[0].Codice)
	}
	id, err := s.state.nextID()
	if err != nil {
		return "", err
	}
	f := &fattura{id: id, nome: fileName, data: data, verdict: verdict, ricevuta: s.cfg.Now(), esiti: map[string]string{}, seq: map[sdi.Tipo]int{}}
	s.mu.Lock()
	s.fatture[id] = f
	s.mu.Unlock()
	if err := s.deliver(ctx, f); err != nil {
		return id, err
	}
	if f.outcomes() {
		s.scheduleDT(f)
	}
	return id, nil
}

// Redeliver sends invoice id to the recipient again with the same IdentificativoSdI,
// as the SdI does when it did not get the ER01: a correct recipient answers ER01 and
// keeps one copy.
func (s *Sim) Redeliver(ctx context.Context, id sdi.IdentificativoSdI) error {
	f := s.lookup(id)
	if f == nil || (f.attivo && f.scenario != Recapito) {
		return fmt.Errorf("sim: nessuna fattura %s consegnata a un destinatario (no invoice delivered with this id)", id)
	}
	return s.deliver(ctx, f)
}

// deliver calls RiceviFatture with the file and a fresh MT, up to Timing.Attempts times.
func (s *Sim) deliver(ctx context.Context, f *fattura) error {
	if s.cfg.RicezioneURL == "" {
		return errors.New("nessun RicezioneURL configurato (no recipient endpoint configured)")
	}
	s.mu.Lock()
	nomeMT := sdi.NomeFileMessaggio(f.nome, sdi.MT, 1)
	s.mu.Unlock()
	attempts, err := s.deliverWithRetry(ctx, func(ctx context.Context) error {
		s.mu.Lock()
		f.tentativi++
		tentativi := f.tentativi
		s.mu.Unlock()
		mt := &sdi.MetadatiInvioFile{IdentificativoSdI: f.id, NomeFile: f.nome, CodiceDestinatario: orDefault(f.verdict.CodiceDestinatario, "0000000"),
			Formato: orDefault(f.verdict.Formato, "FPA12"), TentativiInvio: tentativi, MessageId: s.nextMessageID()}
		if f.b2b() {
			mt.B2B, mt.Hash = true, s.hash(f)
		}
		mtData, err := sdi.Marshal(mt)
		if err != nil {
			return err
		}
		err = s.client.RiceviFatture(ctx, s.cfg.RicezioneURL, &sdicoop.FileSdIConMetadati{
			IdentificativoSdI: f.id, NomeFile: f.nome, File: f.data, NomeFileMetadati: nomeMT, Metadati: mtData})
		ev := Event{Azione: "RiceviFatture", IdentificativoSdI: f.id, NomeFile: f.nome, Dettaglio: "tentativo " + strconv.Itoa(tentativi), File: mtData}
		if err != nil {
			ev.Err = err.Error()
		}
		s.record(ev)
		return err
	})
	if err != nil {
		return fmt.Errorf("sim: consegna di %s (%s) non riuscita dopo %d tentativi (delivery failed): %w", f.nome, f.id, attempts, err)
	}
	s.mu.Lock()
	f.recapitata = true
	s.mu.Unlock()
	return nil
}

// notificaEsito answers SdIRiceviNotifica: the recipient's Esito Committente.
func (s *Sim) notificaEsito(ctx context.Context, req *sdicoop.FileSdI, p sdicoop.Peer) (*sdicoop.RispostaSdINotificaEsito, error) {
	s.mu.Lock()
	down := s.unavailableNE > 0
	if down {
		s.unavailableNE--
	}
	s.mu.Unlock()
	ev := Event{Azione: "NotificaEsito", IdentificativoSdI: req.IdentificativoSdI, Tipo: sdi.EC, File: req.File}
	if down {
		ev.Dettaglio = sdicoop.ES02
		s.record(ev)
		return &sdicoop.RispostaSdINotificaEsito{Esito: sdicoop.ES02}, nil
	}
	f := s.lookup(req.IdentificativoSdI)
	var ec *sdi.NotificaEsitoCommittente
	scarto, why := "", ""
	m, err := sdi.Parse(req.NomeFile, req.File)
	switch {
	case err != nil:
		scarto, why = sdi.EN00, "Notifica non conforme al formato: "+err.Error()
	case m.Tipo != sdi.EC:
		scarto, why = sdi.EN00, "Il file non è un esito committente ma "+string(m.Tipo)
	default:
		ec = m.Body.(*sdi.NotificaEsitoCommittente)
		if err := ec.Check(); err != nil {
			scarto, why = sdi.EN00, "Notifica non conforme al formato: "+err.Error()
		}
	}
	if f != nil {
		ev.NomeFile = f.nome
	}
	if scarto == "" {
		key := riferimento(ec.RiferimentoFattura)
		s.mu.Lock()
		switch {
		case ec.IdentificativoSdI != req.IdentificativoSdI:
			scarto, why = sdi.EN01, fmt.Sprintf("IdentificativoSdI %s dell'esito diverso da quello della richiesta %s", ec.IdentificativoSdI, req.IdentificativoSdI)
		case f == nil || !f.recapitata:
			scarto, why = sdi.EN01, "Nessuna fattura recapitata con IdentificativoSdI "+string(req.IdentificativoSdI)
		case !f.outcomes():
			scarto, why = sdi.EN01, "Esito committente non previsto per fatture verso privati (FPR12)"
		case f.dtInviata:
			scarto, why = sdi.EN01, "Esito pervenuto dopo la decorrenza dei termini"
		case f.esiti[key] != "" || f.esiti[""] != "":
			scarto, why = sdi.EN01, "Esito committente già notificato per questa fattura"
		default:
			f.esiti[key] = ec.Esito
			s.cancelTimer(f.dtTimer)
		}
		s.mu.Unlock()
	}
	if scarto != "" {
		resp, err := s.scartoEsito(f, req, ec, scarto, why)
		ev.Dettaglio, ev.Err = sdicoop.ES00+" "+scarto, why
		s.record(ev)
		return resp, err
	}
	ev.Dettaglio = sdicoop.ES01 + " " + ec.Esito
	s.record(ev)
	if f.attivo {
		// A file that came from a transmitter (scenario Recapito): forward the outcome.
		esito := ec.EsitoCommittente
		s.after(s.cfg.Timing.Notify, func(ctx context.Context) { s.sendNE(ctx, f, esito) })
	}
	return &sdicoop.RispostaSdINotificaEsito{Esito: sdicoop.ES01}, nil
}

func riferimento(r *sdi.RiferimentoFattura) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s/%d/%d", r.NumeroFattura, r.AnnoFattura, r.PosizioneFattura)
}

// scartoEsito builds the ES00 answer with its SE file.
func (s *Sim) scartoEsito(f *fattura, req *sdicoop.FileSdI, ec *sdi.NotificaEsitoCommittente, scarto, why string) (*sdicoop.RispostaSdINotificaEsito, error) {
	se := &sdi.ScartoEsitoCommittente{IdentificativoSdI: req.IdentificativoSdI, Scarto: scarto, MessageId: s.nextMessageID(), Note: why}
	if ec != nil {
		se.RiferimentoFattura = ec.RiferimentoFattura
		if len(ec.MessageIdCommittente) <= 14 {
			se.MessageIdCommittente = ec.MessageIdCommittente
		}
	}
	data, err := sdi.Marshal(se)
	if err == nil {
		data, err = s.sign(data)
	}
	if err != nil {
		return nil, err
	}
	base := req.NomeFile
	n := 1
	if f != nil {
		s.mu.Lock()
		f.seq[sdi.SE]++
		n = f.seq[sdi.SE]
		base = f.nome
		s.mu.Unlock()
	}
	name := sdi.NomeFileMessaggio(base, sdi.SE, n)
	if sdicoop.CheckNomeFile("NomeFile", name) != nil {
		name = "SE_" + string(req.IdentificativoSdI) + "_001.xml"
	}
	return &sdicoop.RispostaSdINotificaEsito{Esito: sdicoop.ES00, ScartoEsito: &sdicoop.FileSdIBase{NomeFile: name, File: data}}, nil
}
