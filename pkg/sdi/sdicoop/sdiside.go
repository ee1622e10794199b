package sdicoop

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"

	"snodo/pkg/sdi"
	"snodo/pkg/soap"
)

var nameFileSdIRicezione = xml.Name{Space: NSRicezione, Local: "fileSdI"}

// SdIServerOptions configure the SdI-side handlers.
type SdIServerOptions struct {
	Logger       *slog.Logger
	MaxBodyBytes int64
	Encoding     soap.ResponseEncoding
}

// RiceviFileFunc answers a RiceviFile call, as the SdI does: an IdentificativoSdI, or
// an Errore (EI01 for an empty file...) with IdentificativoSdI 0.
type RiceviFileFunc func(ctx context.Context, req *FileSdIAccoglienza, p Peer) (*RispostaSdIRiceviFile, error)

// NotificaEsitoFunc answers a NotificaEsito call: ES01, ES00 with the SE, or ES02.
type NotificaEsitoFunc func(ctx context.Context, req *FileSdI, p Peer) (*RispostaSdINotificaEsito, error)

// NewSdIRiceviFile serves SdIRiceviFile with fn (the simulator's side). The request is
// handed over as received: judging it (EI01, scarto) is fn's job, as it is the SdI's.
func NewSdIRiceviFile(fn RiceviFileFunc, o SdIServerOptions) (http.Handler, error) {
	return soap.NewServer(soap.ServerOptions{Service: ServiceSdIRiceviFile, Logger: o.Logger, MaxBodyBytes: o.MaxBodyBytes, Encoding: o.Encoding},
		soap.Operation{
			Name: "RiceviFile", Action: ActionRiceviFile, Request: xml.Name{Space: NSTrasmissione, Local: "fileSdIAccoglienza"},
			Handle: func(ctx context.Context, r *soap.Request) (any, error) {
				var req FileSdIAccoglienza
				if err := r.Decode(&req); err != nil {
					return nil, err
				}
				return fn(ctx, &req, peer(r))
			},
		})
}

// NewSdIRiceviNotifica serves SdIRiceviNotifica with fn.
func NewSdIRiceviNotifica(fn NotificaEsitoFunc, o SdIServerOptions) (http.Handler, error) {
	return soap.NewServer(soap.ServerOptions{Service: ServiceSdIRiceviNotifica, Logger: o.Logger, MaxBodyBytes: o.MaxBodyBytes, Encoding: o.Encoding},
		soap.Operation{
			Name: "NotificaEsito", Action: ActionNotificaEsito, Request: nameFileSdIRicezione,
			Handle: func(ctx context.Context, r *soap.Request) (any, error) {
				var req FileSdI
				if err := r.Decode(&req); err != nil {
					return nil, err
				}
				if err := req.IdentificativoSdI.CheckWS(); err != nil {
					return nil, soap.ClientFault("NotificaEsito: %v", err)
				}
				return fn(ctx, &req, peer(r))
			},
		})
}

// SdIClient makes the calls the SdI makes to a recipient (RicezioneFatture) and to a
// transmitter (TrasmissioneFatture). Its errors are those of soap.Client.Call.
type SdIClient struct {
	soap *soap.Client
}

// NewSdIClient builds the SdI's client; inline sends base64 instead of MTOM.
func NewSdIClient(hc *http.Client, inline bool, logger *slog.Logger) *SdIClient {
	return &SdIClient{soap: &soap.Client{HTTP: hc, MTOM: !inline, Logger: logger, UserAgent: "snodo-sdi-sim"}}
}

// RiceviFatture delivers an invoice and its metadata to a recipient at url and checks
// the answer is ER01.
func (c *SdIClient) RiceviFatture(ctx context.Context, url string, req *FileSdIConMetadati) error {
	var resp RispostaRiceviFatture
	if err := c.soap.Call(ctx, url, ActionRiceviFatture, req, &resp); err != nil {
		return err
	}
	if resp.Esito != ER01 {
		return fmt.Errorf("RiceviFatture %s: esito %q invece di ER01 (Esito is not ER01)", req.IdentificativoSdI, clipName(resp.Esito))
	}
	return nil
}

// NotificaDecorrenzaTermini sends a DT to a recipient's RicezioneFatture at url.
func (c *SdIClient) NotificaDecorrenzaTermini(ctx context.Context, url string, id sdi.IdentificativoSdI, nomeFile string, file []byte) error {
	req := &FileSdI{XMLName: nameFileSdIRicezione, IdentificativoSdI: id, NomeFile: nomeFile, File: file}
	return c.soap.Call(ctx, url, ActionRicezioneDT, req, nil)
}

// Notifica sends a message of type tipo (RC, NS, MC, NE, DT, AT) to a transmitter's
// TrasmissioneFatture at url, with the operation that carries that type.
func (c *SdIClient) Notifica(ctx context.Context, url string, tipo sdi.Tipo, id sdi.IdentificativoSdI, nomeFile string, file []byte) error {
	for _, op := range trasmissioneOps {
		if op.tipo == tipo {
			req := &FileSdI{XMLName: xml.Name{Space: NSTrasmissione, Local: op.element}, IdentificativoSdI: id, NomeFile: nomeFile, File: file}
			return c.soap.Call(ctx, url, fmt.Sprintf(actionTrasmissioneFmt, op.name), req, nil)
		}
	}
	return fmt.Errorf("sdicoop: nessuna operazione TrasmissioneFatture per i messaggi %s (no operation carries %s)", tipo, tipo)
}
