package route

import (
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the hub configuration, snodo.yaml.
type Config struct {
	Listen    Listen     `yaml:"listen"`
	DataDir   string     `yaml:"data_dir"`
	RoutesDir string     `yaml:"routes_dir"`
	Store     StoreSpec  `yaml:"store"`
	Log       LogSpec    `yaml:"log"`
	Engine    EngineSpec `yaml:"engine"`
	SdI       SdISpec    `yaml:"sdi"`
	PagoPA    PagoPASpec `yaml:"pagopa"`
	Trust     TrustSpec  `yaml:"trust"`
	// Simulators run inside the hub process for local use (make run).
	Simulators SimulatorsSpec `yaml:"simulators"`

	file string // where it was read from
}

// Listen holds the HTTP listeners of the hub.
type Listen struct {
	// HTTP is a plain-HTTP address; outside loopback it needs AllowPlainHTTP.
	HTTP string `yaml:"http"`
	// HTTPS is the TLS address for the SdI, the pagoPA Node and enti; mutual TLS with
	// TLS.ClientCA.
	HTTPS          string   `yaml:"https"`
	TLS            TLSSpec  `yaml:"tls"`
	AllowPlainHTTP bool     `yaml:"allow_plain_http"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MetricsFrom lists the addresses (IPs or CIDRs) allowed to read /metrics, which
	// names the enti and their volumes; default loopback only.
	MetricsFrom []string `yaml:"metrics_from"`
}

// StoreSpec selects the store.
type StoreSpec struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	DSN    Secret `yaml:"dsn"`    // postgres connection string
	// MaxConns caps the database connections.
	MaxConns int `yaml:"max_conns"`
	// Synchronous is SQLite's durability: normal (default: survives process crashes) or
	// full (also power losses, at the cost of an fsync per commit).
	Synchronous string `yaml:"synchronous"`
}

// LogSpec configures logging.
type LogSpec struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// EngineSpec tunes the delivery engine.
type EngineSpec struct {
	Workers int           `yaml:"workers"`
	Lease   time.Duration `yaml:"lease"`
	Grace   time.Duration `yaml:"grace"`
	Poll    time.Duration `yaml:"poll"`
	Retry   RetrySpec     `yaml:"retry"` // default policy for every destination
}

// RetrySpec bounds retries of a destination.
type RetrySpec struct {
	MaxAttempts int           `yaml:"max_attempts"`
	Initial     time.Duration `yaml:"initial"`
	Max         time.Duration `yaml:"max"`
	MaxAge      time.Duration `yaml:"max_age"`
}

// TLSSpec names TLS files. Paths are relative to the file that names them.
type TLSSpec struct {
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	CA         string `yaml:"ca"`        // trusted CAs for the peer (file or folder)
	ClientCA   string `yaml:"client_ca"` // server side: CAs of accepted client certificates
	MinVersion string `yaml:"min_version"`
	ServerName string `yaml:"server_name"`
	Insecure   bool   `yaml:"insecure_skip_verify"`
}

// SdISpec is the connection to the Sistema di Interscambio.
type SdISpec struct {
	// Channel is how the hub talks to the SdI: ws (SDICoop, default) or pec.
	Channel string `yaml:"channel"`
	// RiceviFileURL and RiceviNotificaURL are the SdI's SDICoop endpoints.
	RiceviFileURL     string  `yaml:"ricevi_file_url"`
	RiceviNotificaURL string  `yaml:"ricevi_notifica_url"`
	MTOM              *bool   `yaml:"mtom"`
	TLS               TLSSpec `yaml:"tls"`
	// PEC settings when Channel is pec: the hub's mailbox and the SdI's first address.
	PEC     EndpointSpec  `yaml:"pec"`
	Address string        `yaml:"address"` // sdi01@pec.fatturapa.it by default
	Timeout time.Duration `yaml:"timeout"`
	Retry   RetrySpec     `yaml:"retry"`
	// MaxFileSize is the SdI's limit per file (default 5 MB).
	MaxFileSize int64 `yaml:"max_file_size"`
	// ClientCNs are the common names of the SdI's client certificates allowed on the
	// hub's /sdi/ services (production: "Sistema Interscambio Fattura PA"; test:
	// "SistemaInterscambioFatturaPATest"); empty admits any certificate the client CA
	// pool verifies.
	ClientCNs []string `yaml:"client_cns"`
}

// PagoPASpec is the hub's identity as the enti's technological intermediary.
type PagoPASpec struct {
	BrokerID string        `yaml:"broker_id"` // idBrokerPA
	Stations []StationSpec `yaml:"stations"`
	NodeURL  string        `yaml:"node_url"` // nodeForPa, for reporting flows
	TLS      TLSSpec       `yaml:"tls"`
}

// StationSpec is one pagoPA station of the broker.
type StationSpec struct {
	ID       string `yaml:"id"` // idStation
	Password Secret `yaml:"password"`
	// SegregationCode and ApplicationCode build notice numbers for aux digit 3 and 0.
	SegregationCode string `yaml:"segregation_code"`
	ApplicationCode string `yaml:"application_code"`
}

// TrustSpec names folders of trusted CA certificates.
type TrustSpec struct {
	Signatures string `yaml:"signatures"` // CAs of invoice signatures (qualified certificates)
	PEC        string `yaml:"pec"`        // CAs of PEC providers' envelope signatures
}

// SimulatorsSpec enables built-in simulators for local runs.
type SimulatorsSpec struct {
	SdI    SimulatorSpec `yaml:"sdi"`
	PagoPA SimulatorSpec `yaml:"pagopa"`
	PEC    SimulatorSpec `yaml:"pec"`
}

// SimulatorSpec enables one simulator.
type SimulatorSpec struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// Options are simulator-specific (scenario tables, clocks).
	Options yaml.Node `yaml:"options"`
}

// Ente is one route file: an ente's identity and, per phase, its channels.
type Ente struct {
	Ente     Identity     `yaml:"ente"`
	Auth     AuthSpec     `yaml:"auth"`
	Passive  PassiveSpec  `yaml:"passive"`
	Active   ActiveSpec   `yaml:"active"`
	Payments PaymentsSpec `yaml:"payments"`
	Forward  []Forward    `yaml:"forward"`

	File string `yaml:"-"` // the route file
	line int
}

func (e *Ente) setLine(l int) { e.line = l }

// ID returns the ente's route id.
func (e *Ente) ID() string { return e.Ente.ID }

// Identity is who the ente is.
type Identity struct {
	ID            string   `yaml:"id"` // route id; defaults to the file name
	Name          string   `yaml:"name"`
	IPA           string   `yaml:"ipa"`            // codice IPA
	CodiceFiscale string   `yaml:"codice_fiscale"` // idPA / IdFiscaleCommittente
	Offices       []Office `yaml:"offices"`        // codici univoci ufficio (CodiceDestinatario)
	PEC           string   `yaml:"pec"`
	Contacts      string   `yaml:"contacts"`
	Enabled       *bool    `yaml:"enabled"`
	line          int
}

func (i *Identity) setLine(l int) { i.line = l }

// Office is a codice univoco ufficio served by the ente.
type Office struct {
	Code string
	Name string
	line int
}

func (o *Office) decodeYAML(d *decoder, n *yaml.Node, path string) {
	o.line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		o.Code = n.Value
	case yaml.MappingNode:
		var v struct {
			Code string `yaml:"code"`
			Name string `yaml:"name"`
		}
		d.decodeValue(n, reflectValue(&v), path)
		o.Code, o.Name = v.Code, v.Name
	default:
		d.addf(n.Line, "%s: atteso un codice ufficio o {code, name} (expected an office code)", path)
	}
}

// IsEnabled reports whether the ente is enabled (default true).
func (i *Identity) IsEnabled() bool { return i.Enabled == nil || *i.Enabled }

// AuthSpec holds the ente's credentials for the hub's API.
type AuthSpec struct {
	// Tokens are bearer tokens (write them as ${ENV} or file:/path).
	Tokens []Secret `yaml:"tokens"`
	// ClientCerts are SHA-256 fingerprints (hex) or subject common names of client
	// certificates accepted for this ente.
	ClientCerts []string `yaml:"client_certs"`
	// Username and Password for the SOAP services compatible with IntermediaMarche.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// PassiveSpec is the passive cycle (invoices the ente receives).
type PassiveSpec struct {
	Enabled     *bool  `yaml:"enabled"`
	Environment string `yaml:"environment"` // production (default) or staging
	// SingleDelivery sends one delivery for protocol and accounting (invio unico).
	SingleDelivery bool `yaml:"single_delivery"`
	// Deliver lists what the ente receives: signed (the file as received), unwrapped,
	// metadata, rendering. Default: signed, metadata.
	Deliver       []string          `yaml:"deliver"`
	Protocol      *EndpointSpec     `yaml:"protocol"`
	Accounting    *EndpointSpec     `yaml:"accounting"`
	Outcome       *EndpointSpec     `yaml:"outcome"`       // where EC (accept/reject) come from
	Notifications *EndpointSpec     `yaml:"notifications"` // DT, SE, EC results (default: protocol)
	Prevalidation PrevalidationSpec `yaml:"prevalidation"`
	// AutoAcceptDays sends an EC01 this many days after receipt when the ente sent no
	// outcome (0: never).
	AutoAcceptDays int `yaml:"auto_accept_days"`
}

// PrevalidationSpec holds the ente's own rules.
type PrevalidationSpec struct {
	// Rules are decoded by the fatturapa package (see docs/routes.md).
	Rules yaml.Node `yaml:"rules"`
	// OnFailure: reject (send EC02, default) or flag (record only).
	OnFailure string `yaml:"on_failure"`
	// DeliverRejected delivers a rejected invoice to the ente anyway, marked (default true).
	DeliverRejected *bool `yaml:"deliver_rejected"`
}

// ActiveSpec is the active cycle (invoices the ente sends).
type ActiveSpec struct {
	Enabled       *bool         `yaml:"enabled"`
	Environment   string        `yaml:"environment"`
	Submit        *EndpointSpec `yaml:"submit"`
	Notifications *EndpointSpec `yaml:"notifications"`
	Sign          SignSpec      `yaml:"sign"`
	// IdCodice names files IT<IdCodice>_<progressivo> when the ente's name is missing or
	// not compliant (default: the ente's codice fiscale).
	IdCodice string `yaml:"id_codice"`
}

// SignSpec configures signing of active invoices.
type SignSpec struct {
	Format string `yaml:"format"` // none (default), cades, xades
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

// PaymentsSpec is the pagoPA part of an ente.
type PaymentsSpec struct {
	Enabled         *bool         `yaml:"enabled"`
	Station         string        `yaml:"station"`
	AuxDigit        *int          `yaml:"aux_digit"`
	SegregationCode string        `yaml:"segregation_code"`
	ApplicationCode string        `yaml:"application_code"`
	IBAN            string        `yaml:"iban"`
	Positions       *EndpointSpec `yaml:"positions"` // debt position files come from here
	Receipts        *EndpointSpec `yaml:"receipts"`  // receipts go there
	Outcomes        *EndpointSpec `yaml:"outcomes"`  // load outcome files go there
	Reports         *EndpointSpec `yaml:"reports"`   // daily reports go there
}

// Forward is a plain relay: every file taken from From is delivered to To.
type Forward struct {
	Name string        `yaml:"name"`
	From *EndpointSpec `yaml:"from"`
	To   *EndpointSpec `yaml:"to"`
	line int
}

func (f *Forward) setLine(l int) { f.line = l }

// EndpointSpec is a channel endpoint as written in a route file.
type EndpointSpec struct {
	Channel  string    `yaml:"channel"`
	URL      string    `yaml:"url"`
	Username string    `yaml:"username"`
	Password Secret    `yaml:"password"`
	TLS      TLSSpec   `yaml:"tls"`
	Settings yaml.Node `yaml:"settings"`
	Retry    RetrySpec `yaml:"retry"`
	line     int
}

func (e *EndpointSpec) setLine(l int) { e.line = l }

// Line returns the line of the endpoint in its file.
func (e *EndpointSpec) Line() int { return e.line }

// Secret is a value that may be written as ${ENV}, file:/path (the file's content,
// trimmed) or, discouraged, in plain text.
type Secret struct {
	Value string
	// Plain is true when the value was written in clear in the file.
	Plain bool
	line  int
}

func (s *Secret) decodeYAML(d *decoder, n *yaml.Node, path string) {
	s.line = n.Line
	if n.Kind != yaml.ScalarNode {
		d.addf(n.Line, "%s: atteso un valore (expected a scalar)", path)
		return
	}
	if ref, ok := strings.CutPrefix(n.Value, "file:"); ok {
		data, err := os.ReadFile(d.path(ref))
		if err != nil {
			d.addf(n.Line, "%s: file del segreto non leggibile: %v (secret file unreadable)", path, err)
			return
		}
		s.Value = strings.TrimSpace(string(data))
		return
	}
	s.Value = n.Value
	s.Plain = n.Value != "" && !d.expanded[n]
}

// String hides the value.
func (s Secret) String() string {
	if s.Value == "" {
		return ""
	}
	return "*****"
}

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
