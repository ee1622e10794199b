// Package ws is the channel kind "ws": snodo pushes each message to a web service of the
// ente's system, over http or https, in one of two styles chosen per route.
//
//   - style soap: the contracts in snodo/wsdl/snodo, wire-compatible with IntermediaMarche
//     (contract intermediamarche-registrazione: RiceviFattura for an invoice, RiceviNotifica
//     for a DT or an SE; contract intermediamarche-notifica-attiva: RiceviNotifica for the
//     SdI notifications of the active cycle). The result codes decide: EF00/EN00/NA00 is
//     delivered; EF01/EN01/NA01 (credentials) and EF02/EN02/NA02/NA03 (refused) are
//     permanent, for an operator to fix and replay; a fault (EF99/EN99/NA99) or a
//     transport failure is retried.
//   - style rest: an HTTP POST of the original file as the body with its metadata in
//     headers, or with format json one JSON document (Document: every file in base64,
//     the metadata, the attempt). The headers of format raw are GovWay's names, so a back
//     end written for GovWay reads them (GovWay-SDI-IdentificativoSdI, GovWay-SDI-NomeFile,
//     GovWay-SDI-NomeFileMetadati, GovWay-SDI-FileMetadati with metadata_header,
//     GovWay-Transaction-ID), and snodo's (Snodo-IdMessaggio, Snodo-Ente, Snodo-Fase,
//     Snodo-NomeFile, Snodo-Tentativo, Snodo-NomeFileMetadati and Snodo-<Name> for every
//     header of the message: Snodo-IdentificativoSdI, Snodo-CodiceDestinatario,
//     Snodo-TipoMessaggio, Snodo-NumeroProtocollo, ...; non-ASCII values as RFC 2047
//     words). The OpenAPI document of snodo/pkg/api publishes both forms as the webhook
//     "consegna" (schemas Consegna and Protocollo). A 2xx is delivered;
//     the protocol number an ente's protocol system returns (JSON numero_protocollo /
//     data_protocollo, or headers Snodo-NumeroProtocollo / Snodo-DataProtocollo) is kept
//     on the message as NumeroProtocollo / DataProtocollo. 5xx, 408 and 429 are retried,
//     other statuses are permanent unless listed in retry_statuses.
//
// Every request carries the message id in an Idempotency-Key header, the same on every
// attempt, so an ente's system can recognise a redelivery. Authentication: HTTP Basic
// (the endpoint's username and password), a bearer token (settings token), and mutual TLS
// (the endpoint's tls.cert and tls.key), alone or together.
package ws

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"snodo/pkg/channel"
)

// Styles, contracts, formats and authentication schemes of the settings.
const (
	StyleSOAP = "soap"
	StyleREST = "rest"

	ContractRegistrazione    = "intermediamarche-registrazione"
	ContractNotificaAttiva   = "intermediamarche-notifica-attiva"
	FormatRaw                = "raw"
	FormatJSON               = "json"
	AuthNone                 = "none"
	AuthBasic                = "basic"
	AuthBearer               = "bearer"
	HeadersBoth              = "both"
	HeadersGovWay            = "govway"
	HeadersSnodo             = "snodo"
	DefaultTimeout           = 60 * time.Second
	DefaultIdempotencyHeader = "Idempotency-Key"
)

// Settings of a ws endpoint (the `settings:` of a route phase).
type Settings struct {
	// Style is soap or rest (required).
	Style string `yaml:"style"`
	// Contract (style soap) is intermediamarche-registrazione (passive cycle: invoices,
	// DT, SE) or intermediamarche-notifica-attiva (active cycle notifications).
	Contract string `yaml:"contract"`
	// Format (style rest) is raw (default: the file as the body, metadata in headers) or
	// json (one JSON document).
	Format string `yaml:"format"`
	// Auth is none, basic or bearer; by default basic when the endpoint has a username,
	// bearer when Token is set, none otherwise. Mutual TLS comes from the endpoint's tls.
	Auth string `yaml:"auth"`
	// Token is the bearer token; write it as ${ENV} or file:/path in the route file.
	Token string `yaml:"token"`
	// Timeout bounds one request, connection included (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// MTOM (style soap) sends the file as an MTOM/XOP attachment instead of inline base64.
	MTOM bool `yaml:"mtom"`
	// Headers (style rest, format raw) picks the metadata header names: both (default),
	// govway (GovWay-SDI-*) or snodo (Snodo-*).
	Headers string `yaml:"headers"`
	// MetadataHeader (style rest, format raw) also sends the SdI metadata file (MT), in
	// base64, in the GovWay-SDI-FileMetadati header.
	MetadataHeader bool `yaml:"metadata_header"`
	// RetryStatuses are 4xx statuses to retry besides 408 and 429 (style rest).
	RetryStatuses []int `yaml:"retry_statuses"`
	// EsitoNegativoNZ (contract intermediamarche-notifica-attiva) sends an NE carrying an
	// EC02 with code NZ instead of NE (IntermediaMarche used NE for both).
	EsitoNegativoNZ bool `yaml:"esito_negativo_nz"`
	// IdempotencyHeader names the idempotency header (default Idempotency-Key).
	IdempotencyHeader string `yaml:"idempotency_header"`
	// AllowPlainHTTP allows an http:// URL beyond loopback (credentials and invoices in
	// clear: only behind a trusted network).
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// Check validates the settings against the endpoint.
func (s *Settings) Check(ep *channel.Endpoint) error {
	if ep.URL == nil || ep.URL.Host == "" {
		return fmt.Errorf("URL %s: manca l'host; usare https://host/percorso (host missing)", urlString(ep.URL))
	}
	switch s.Style {
	case StyleSOAP:
		switch s.Contract {
		case ContractRegistrazione, ContractNotificaAttiva:
		case "":
			return fmt.Errorf("settings.contract mancante: con style soap indicare %s o %s (contract required)", ContractRegistrazione, ContractNotificaAttiva)
		default:
			return fmt.Errorf("settings.contract %q sconosciuto: usare %s o %s (unknown contract)", s.Contract, ContractRegistrazione, ContractNotificaAttiva)
		}
		if s.Format != "" {
			return fmt.Errorf("settings.format vale solo con style rest (format is for style rest)")
		}
	case StyleREST:
		if s.Contract != "" {
			return fmt.Errorf("settings.contract vale solo con style soap (contract is for style soap)")
		}
		switch s.Format {
		case "", FormatRaw, FormatJSON:
		default:
			return fmt.Errorf("settings.format %q sconosciuto: usare raw o json (unknown format)", s.Format)
		}
		if s.MTOM {
			return fmt.Errorf("settings.mtom vale solo con style soap (mtom is for style soap)")
		}
	case "":
		return fmt.Errorf("settings.style mancante: usare soap (contratti IntermediaMarche) o rest (style required: soap or rest)")
	default:
		return fmt.Errorf("settings.style %q sconosciuto: usare soap o rest (unknown style)", s.Style)
	}
	switch s.Headers {
	case "", HeadersBoth, HeadersGovWay, HeadersSnodo:
	default:
		return fmt.Errorf("settings.headers %q sconosciuto: usare both, govway o snodo (unknown header set)", s.Headers)
	}
	if ref, ok := strings.CutPrefix(s.Token, "file:"); ok {
		// The route loader resolves file: for its own secrets only; a kind's settings
		// resolve theirs. A relative path is relative to the hub's working folder.
		data, err := os.ReadFile(ref)
		if err != nil {
			return fmt.Errorf("settings.token: file del segreto non leggibile: %v (secret file unreadable)", err)
		}
		s.Token = strings.TrimSpace(string(data))
		if s.Token == "" {
			return fmt.Errorf("settings.token: il file %s è vuoto (empty secret file)", ref)
		}
	}
	switch s.auth(ep) {
	case AuthNone:
		if s.Token != "" {
			return fmt.Errorf("settings.token indicato con auth none: togliere il token o usare auth bearer (token given with auth none)")
		}
	case AuthBasic:
		if ep.Username == "" {
			return fmt.Errorf("auth basic: manca username nell'endpoint (username required)")
		}
		if s.Token != "" {
			return fmt.Errorf("auth basic e settings.token insieme: scegliere uno dei due (basic and a token together)")
		}
	case AuthBearer:
		if s.Token == "" {
			return fmt.Errorf("auth bearer: manca settings.token, es. token: ${TOKEN_ENTE} (token required)")
		}
		if ep.Username != "" || ep.Password != "" {
			return fmt.Errorf("auth bearer e username/password insieme: scegliere uno dei due (bearer and basic together)")
		}
		if strings.ContainsAny(s.Token, "\r\n \t") {
			return fmt.Errorf("settings.token contiene spazi o a capo: controllare il segreto (token contains whitespace)")
		}
	default:
		return fmt.Errorf("settings.auth %q sconosciuto: usare none, basic o bearer (unknown auth)", s.Auth)
	}
	if s.Timeout < 0 || s.Timeout > 10*time.Minute {
		return fmt.Errorf("settings.timeout %s fuori intervallo: tra 1s e 10m (timeout out of range)", s.Timeout)
	}
	for _, st := range s.RetryStatuses {
		if st < 400 || st > 499 {
			return fmt.Errorf("settings.retry_statuses: %d non è un 4xx; i 5xx sono sempre ritentati (only 4xx statuses)", st)
		}
	}
	if h := s.IdempotencyHeader; h != "" && !validHeaderName(h) {
		return fmt.Errorf("settings.idempotency_header %q non è un nome di intestazione HTTP valido (bad header name)", h)
	}
	switch ep.URL.Scheme {
	case "https":
	case "http":
		if ep.TLS.CertFile != "" {
			return fmt.Errorf("URL %s: certificato client con http://; usare https:// (client certificate needs https)", ep.URL.Redacted())
		}
		if !loopback(ep.URL.Hostname()) && !s.AllowPlainHTTP {
			return fmt.Errorf("URL %s: HTTP in chiaro oltre localhost espone fatture e credenziali; usare https:// oppure settings.allow_plain_http: true "+
				"su una rete fidata (plain HTTP beyond loopback)", ep.URL.Redacted())
		}
	default:
		return fmt.Errorf("URL %s: schema %q non ammesso; usare https:// (or http://) (unsupported scheme)", ep.URL.Redacted(), ep.URL.Scheme)
	}
	return nil
}

// auth returns the effective authentication scheme.
func (s *Settings) auth(ep *channel.Endpoint) string {
	switch {
	case s.Auth != "":
		return s.Auth
	case s.Token != "":
		return AuthBearer
	case ep.Username != "":
		return AuthBasic
	}
	return AuthNone
}

func (s *Settings) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func (s *Settings) idempotencyHeader() string {
	if s.IdempotencyHeader == "" {
		return DefaultIdempotencyHeader
	}
	return s.IdempotencyHeader
}

func (s *Settings) retryStatus(code int) bool {
	if code >= 500 || code == 408 || code == 429 {
		return true
	}
	for _, c := range s.RetryStatuses {
		if c == code {
			return true
		}
	}
	return false
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return h != ""
}

func urlString(u *url.URL) string {
	if u == nil {
		return "(vuoto)"
	}
	return u.Redacted()
}

// Kind returns the ws channel kind. It only sends: enti submit to snodo through the API
// of package snodo/pkg/api, not through a receive phase.
func Kind() *channel.Kind {
	return &channel.Kind{
		Name:        "ws",
		Schemes:     []string{"https", "http"},
		NewSettings: func() any { return &Settings{} },
		NewSender:   NewSender,
	}
}
