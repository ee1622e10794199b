package ws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"snodo/pkg/channel"
	"snodo/pkg/message"
)

// Header names of the REST style. The Snodo-* set carries every header of the message
// as Snodo-<Name> (these are the usual ones); the GovWay-SDI-* set is the one GovWay
// uses to deliver SdI files to a back end, so a back end written for GovWay reads it.
const (
	HeaderSnodoIdMessaggio       = "Snodo-IdMessaggio"
	HeaderSnodoEnte              = "Snodo-Ente"
	HeaderSnodoFase              = "Snodo-Fase"
	HeaderSnodoNomeFile          = "Snodo-NomeFile"
	HeaderSnodoTentativo         = "Snodo-Tentativo"
	HeaderSnodoNomeFileMetadati  = "Snodo-NomeFileMetadati"
	HeaderSnodoIdentificativoSdI = "Snodo-IdentificativoSdI"
	HeaderSnodoTipoMessaggio     = "Snodo-TipoMessaggio"
	HeaderSnodoNumeroProtocollo  = "Snodo-NumeroProtocollo" // also read from the ente's answer
	HeaderSnodoDataProtocollo    = "Snodo-DataProtocollo"   // also read from the ente's answer

	HeaderGovWayIdentificativoSdI = "GovWay-SDI-IdentificativoSdI"
	HeaderGovWayNomeFile          = "GovWay-SDI-NomeFile"
	HeaderGovWayNomeFileMetadati  = "GovWay-SDI-NomeFileMetadati"
	HeaderGovWayFileMetadati      = "GovWay-SDI-FileMetadati"
	HeaderGovWayTransactionID     = "GovWay-Transaction-ID"
)

// Document is the body of a REST delivery with format json.
type Document struct {
	IdMessaggio       string            `json:"id_messaggio"`
	Ente              string            `json:"ente"`
	Fase              string            `json:"fase"`
	NomeFile          string            `json:"nome_file"`
	IdentificativoSdI string            `json:"identificativo_sdi,omitempty"`
	TipoMessaggio     string            `json:"tipo_messaggio,omitempty"`
	Tentativo         int               `json:"tentativo"`
	Metadati          map[string]string `json:"metadati"`
	File              []DocumentFile    `json:"file"`
}

// DocumentFile is one file of a Document, the main file first.
type DocumentFile struct {
	Nome        string `json:"nome"`
	Ruolo       string `json:"ruolo"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Dati        []byte `json:"dati"` // base64 in JSON
}

// Protocollo is what a protocol system may answer to a REST delivery.
type Protocollo struct {
	NumeroProtocollo json.RawMessage `json:"numero_protocollo"`
	DataProtocollo   string          `json:"data_protocollo"`
}

func (s *Sender) sendREST(ctx context.Context, d *channel.Delivery, name string) (channel.Result, error) {
	var body []byte
	hdr := http.Header{}
	if s.set.Format == FormatJSON {
		doc := Document{IdMessaggio: string(d.MessageID), Ente: d.Ente, Fase: d.Phase, NomeFile: name,
			IdentificativoSdI: d.Headers[message.HeaderIdentificativoSdI], TipoMessaggio: d.Headers[message.HeaderTipoMessaggio],
			Tentativo: d.Attempt, Metadati: d.Headers}
		if doc.Metadati == nil {
			doc.Metadati = map[string]string{}
		}
		for i, f := range d.Files {
			fn := f.Name
			if i == 0 {
				fn = name
			}
			sum := sha256.Sum256(f.Data)
			ct := f.ContentType
			if ct == "" {
				ct = contentTypeOf(fn)
			}
			role := f.Role
			if role == "" && i == 0 {
				role = message.RoleMain
			}
			doc.File = append(doc.File, DocumentFile{Nome: fn, Ruolo: role, ContentType: ct, SHA256: hex.EncodeToString(sum[:]), Dati: f.Data})
		}
		var err error
		if body, err = json.Marshal(doc); err != nil {
			return channel.Result{}, channel.Permanent(fmt.Errorf("documento JSON: %w", err))
		}
		hdr.Set("Content-Type", "application/json")
		hdr.Set(HeaderSnodoIdMessaggio, string(d.MessageID))
	} else {
		body = d.Files[0].Data
		ct := d.Files[0].ContentType
		if ct == "" {
			ct = contentTypeOf(name)
		}
		hdr.Set("Content-Type", ct)
		s.metadataHeaders(hdr, d, name)
	}
	url := s.ep.URL.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("richiesta verso %s: %w", s.ep.URL.Redacted(), err))
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	resp, err := s.http.Do(req)
	if err != nil {
		return channel.Result{}, transportError(s.ep.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return channel.Result{}, transportError(s.ep.URL.Redacted(), fmt.Errorf("lettura risposta (reading the answer): %w", err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return channel.Result{}, s.statusError(resp, data)
	}
	res := channel.Result{Detail: fmt.Sprintf("POST %s: HTTP %d", s.ep.URL.Redacted(), resp.StatusCode)}
	numero, dataProt := protocollo(resp, data)
	if numero != "" {
		res.Headers = map[string]string{message.HeaderNumeroProtocollo: numero}
		if dataProt != "" {
			res.Headers[message.HeaderDataProtocollo] = dataProt
		}
		res.Detail += ", protocollo " + numero
		if dataProt != "" {
			res.Detail += " del " + dataProt
		}
	}
	return res, nil
}

// metadataHeaders sets the metadata headers of a raw REST delivery.
func (s *Sender) metadataHeaders(h http.Header, d *channel.Delivery, name string) {
	set := s.set.Headers
	if set == "" {
		set = HeadersBoth
	}
	var meta *message.File
	for i := 1; i < len(d.Files); i++ {
		if d.Files[i].Role == message.RoleMetadata {
			meta = &d.Files[i]
			break
		}
	}
	id := d.Headers[message.HeaderIdentificativoSdI]
	if set == HeadersBoth || set == HeadersGovWay {
		h.Set(HeaderGovWayNomeFile, name)
		h.Set(HeaderGovWayTransactionID, string(d.MessageID))
		if id != "" {
			h.Set(HeaderGovWayIdentificativoSdI, id)
		}
		if meta != nil {
			h.Set(HeaderGovWayNomeFileMetadati, meta.Name)
			if s.set.MetadataHeader {
				h.Set(HeaderGovWayFileMetadati, base64.StdEncoding.EncodeToString(meta.Data))
			}
		}
	}
	if set == HeadersBoth || set == HeadersSnodo {
		keys := make([]string, 0, len(d.Headers))
		for k := range d.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !validHeaderName(k) {
				continue
			}
			if v, ok := headerValue(d.Headers[k]); ok {
				h.Set("Snodo-"+k, v)
			}
		}
		h.Set(HeaderSnodoIdMessaggio, string(d.MessageID))
		h.Set(HeaderSnodoEnte, d.Ente)
		h.Set(HeaderSnodoFase, d.Phase)
		h.Set(HeaderSnodoNomeFile, name)
		h.Set(HeaderSnodoTentativo, strconv.Itoa(d.Attempt))
		if meta != nil {
			h.Set(HeaderSnodoNomeFileMetadati, meta.Name)
		}
	}
}

// headerValue makes a header value safe: control characters refuse it, non-ASCII text
// travels as an RFC 2047 encoded word.
func headerValue(v string) (string, bool) {
	ascii := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return v, true
	}
	return mime.QEncoding.Encode("utf-8", v), true
}

// statusError classifies a non-2xx answer.
func (s *Sender) statusError(resp *http.Response, data []byte) error {
	st := resp.StatusCode
	detail := snippet(data)
	switch {
	case s.set.retryStatus(st):
		return fmt.Errorf("POST %s: HTTP %d %s (retried)", s.ep.URL.Redacted(), st, detail)
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return channel.Permanent(fmt.Errorf("POST %s: HTTP %d, credenziali rifiutate; correggere l'autenticazione dell'endpoint e rimettere in coda %s "+
			"(credentials refused)", s.ep.URL.Redacted(), st, detail))
	case st >= 300 && st < 400:
		return channel.Permanent(fmt.Errorf("POST %s: HTTP %d verso %q: i reindirizzamenti non si seguono; aggiornare l'URL dell'endpoint "+
			"(redirects are not followed: update the URL)", s.ep.URL.Redacted(), st, resp.Header.Get("Location")))
	}
	return channel.Permanent(fmt.Errorf("POST %s: HTTP %d, messaggio rifiutato dall'ente %s; correggere e rimettere in coda, oppure "+
		"elencare lo stato in settings.retry_statuses (refused by the ente)", s.ep.URL.Redacted(), st, detail))
}

// protocollo reads the protocol number and date from the answer: a JSON body first,
// then the Snodo-NumeroProtocollo / Snodo-DataProtocollo headers.
func protocollo(resp *http.Response, data []byte) (numero, dataProt string) {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(mt, "json") && len(bytes.TrimSpace(data)) > 0 {
		var p Protocollo
		if json.Unmarshal(data, &p) == nil {
			numero = jsonScalar(p.NumeroProtocollo)
			dataProt = p.DataProtocollo
		}
	}
	if numero == "" {
		numero = resp.Header.Get(HeaderSnodoNumeroProtocollo)
		dataProt = resp.Header.Get(HeaderSnodoDataProtocollo)
	}
	return clip(numero, 100), clip(dataProt, 40)
}

// jsonScalar turns a JSON string or number into text.
func jsonScalar(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func snippet(data []byte) string {
	s := clip(string(bytes.ToValidUTF8(data, []byte("?"))), 200)
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// contentTypeOf names the media type of a file by its name.
func contentTypeOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".p7m"):
		return "application/pkcs7-mime"
	case strings.HasSuffix(n, ".xml"):
		return "application/xml"
	case strings.HasSuffix(n, ".zip"):
		return "application/zip"
	case strings.HasSuffix(n, ".json"):
		return "application/json"
	case strings.HasSuffix(n, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(n, ".csv"):
		return "text/csv; charset=utf-8"
	case strings.HasSuffix(n, ".pdf"):
		return "application/pdf"
	}
	return "application/octet-stream"
}
