package sdipec

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// Item is what one PEC from the SdI carries, read from the inbound item the pec
// channel made of it: an invoice with its metadata, or one SdI message.
type Item struct {
	// Invoice is true for an invoice (or archive) file with its MT; false for a
	// notification (RC, NS, MC, NE, DT, AT, SE).
	Invoice bool
	Tipo    sdi.Tipo // the message type; MT for an invoice
	ID      sdi.IdentificativoSdI
	// NomeFile and File are the invoice file or the notification file.
	NomeFile string
	File     []byte
	// For an invoice: the metadata file, parsed when readable (MTErr says why not).
	NomeFileMetadati string
	Metadati         []byte
	MT               *sdi.MetadatiInvioFile
	MTErr            error
	// For a notification: the parsed message, nil when unreadable (ParseErr says why).
	Message  *sdi.Message
	ParseErr error
	// From is the SdI address the PEC came from; Subject its subject; At the time the
	// provider certified it (zero when unknown).
	From, Subject string
	At            time.Time
	// Extra names attachments beyond the one file (and its MT) an SdI PEC carries.
	Extra []string
}

// subjectID is the IdentificativoSdI at the end of an SdI PEC subject ("Invio File
// 5000000001", "Ricevuta di consegna 5000000001 (SIMULAZIONE)").
var subjectID = regexp.MustCompile(`(?:^|\D)([0-9]{1,36})(?:\s*\(SIMULAZIONE\))?\s*$`)

// IDFromSubject returns the IdentificativoSdI a subject ends with, "" when none.
func IDFromSubject(subject string) sdi.IdentificativoSdI {
	m := subjectID.FindStringSubmatch(strings.TrimSpace(subject))
	if m == nil {
		return ""
	}
	id, err := sdi.ParseIdentificativoSdI(m[1])
	if err != nil {
		return ""
	}
	return id
}

// Classify reads an inbound PEC of the SdI as the pec channel hands it over (the main
// attachment as Data, the others in Files, the PEC headers) and says what it is. An
// error means the PEC cannot be taken as an SdI message (no attachment, no
// IdentificativoSdI anywhere, an unexpected message type): the caller quarantines it.
func Classify(in channel.Inbound) (*Item, error) {
	it := &Item{From: strings.ToLower(in.Headers[pecchannel.HeaderMittente]), Subject: in.Headers[pecchannel.HeaderOggetto]}
	if t, err := time.Parse(time.RFC3339, in.Headers[pecchannel.HeaderData]); err == nil {
		it.At = t
	}
	label := fmt.Sprintf("PEC %q da %s", it.Subject, it.From)
	if in.Headers[pecchannel.HeaderSenzaAllegati] == "true" || len(in.Data) == 0 {
		return nil, fmt.Errorf("%s: nessun file allegato: lo SdI invia sempre un file per messaggio (no attachment: the SdI always sends one file)", label)
	}
	if err := channel.SafeFileName(in.FileName); err != nil {
		return nil, fmt.Errorf("%s: allegato: %v", label, err)
	}
	var mt *message.File
	for i := range in.Files {
		f := &in.Files[i]
		switch f.Role {
		case pecchannel.RoleEnvelope:
		case message.RoleMetadata:
			if mt == nil {
				mt = f
				continue
			}
			it.Extra = append(it.Extra, f.Name)
		default:
			it.Extra = append(it.Extra, f.Name)
		}
	}
	fromSubject := IDFromSubject(it.Subject)
	tipo, isMessage := sdi.TipoFromName(in.FileName)
	if mt != nil || !isMessage {
		return classifyInvoice(it, in, mt, fromSubject, label)
	}
	it.Tipo, it.NomeFile, it.File = tipo, in.FileName, in.Data
	switch tipo {
	case sdi.RC, sdi.NS, sdi.MC, sdi.NE, sdi.DT, sdi.AT, sdi.SE:
	default:
		return nil, fmt.Errorf("%s: %s è un %s, che lo SdI non invia a un destinatario o trasmittente (an SdI message the SdI does not send to us)", label, in.FileName, tipo.Descrizione())
	}
	it.Message, it.ParseErr = sdi.Parse(in.FileName, in.Data)
	if it.ParseErr == nil && it.Message.Tipo != tipo {
		it.Message, it.ParseErr = nil, fmt.Errorf("%s: il nome indica %s, il contenuto è %s (name and content disagree)", in.FileName, tipo, it.Message.Tipo)
	}
	if it.Message != nil {
		it.ID = it.Message.Body.Identificativo()
	}
	if it.ID.IsZero() {
		it.ID = fromSubject
	}
	if it.ID.IsZero() {
		return nil, fmt.Errorf("%s: %s senza IdentificativoSdI leggibile né nel file né nell'oggetto (no IdentificativoSdI in the file or the subject): %v", label, in.FileName, it.ParseErr)
	}
	if err := it.ID.CheckWS(); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", label, in.FileName, err)
	}
	return it, nil
}

func classifyInvoice(it *Item, in channel.Inbound, mt *message.File, fromSubject sdi.IdentificativoSdI, label string) (*Item, error) {
	it.Invoice, it.Tipo, it.NomeFile, it.File = true, sdi.MT, in.FileName, in.Data
	if err := sdicoop.CheckNomeFile("NomeFile", in.FileName); err != nil {
		return nil, fmt.Errorf("%s: %v", label, err)
	}
	if mt != nil {
		it.NomeFileMetadati, it.Metadati = mt.Name, mt.Data
		m, err := sdi.Parse(mt.Name, mt.Data)
		switch {
		case err != nil:
			it.MTErr = err
		default:
			if md, ok := m.Body.(*sdi.MetadatiInvioFile); ok {
				it.MT = md
				it.ID = md.IdentificativoSdI
			} else {
				it.MTErr = fmt.Errorf("%s: atteso il file metadati MT, trovato %s (expected the MT)", mt.Name, m.Tipo)
			}
		}
	} else {
		it.MTErr = fmt.Errorf("%s: la PEC non contiene il file metadati MT (no MT in the PEC)", label)
	}
	if it.ID.IsZero() {
		it.ID = fromSubject
	}
	if it.ID.IsZero() {
		return nil, fmt.Errorf("%s: fattura %s senza IdentificativoSdI (nessun MT leggibile, oggetto senza identificativo) (no IdentificativoSdI: no readable MT, none in the subject)", label, in.FileName)
	}
	if err := it.ID.CheckWS(); err != nil {
		return nil, fmt.Errorf("%s: %s: %v", label, in.FileName, err)
	}
	if it.MT != nil && !fromSubject.IsZero() && fromSubject != it.ID {
		it.MTErr = fmt.Errorf("IdentificativoSdI %s del MT diverso da %s dell'oggetto della PEC: vale quello del MT (the MT's and the subject's differ: the MT's counts)", it.ID, fromSubject)
	}
	if it.NomeFileMetadati == "" {
		it.NomeFileMetadati = sdi.NomeFileMessaggio(in.FileName, sdi.MT, 1)
	}
	return it, nil
}
