// Package api is snodo's API for enti: what an ente's systems call on the hub.
//
//   - REST under /api/v1/ (OpenAPI 3 document at /openapi.json): submit an active
//     invoice, accept or reject a received invoice (fields or an EC file), read a
//     message's state, headers and timeline, download its files, list the ente's own
//     messages page by page, find a message by RicevutaComunicazione or IdentificativoSdI.
//   - SOAP, wire-compatible with IntermediaMarche (contracts in snodo/wsdl/snodo):
//     RiceviFileCA (active invoice, codes FA00-FA06, fault FA99) and riceviEsitoFattura
//     (Esito Committente file, codes EN00-EN08, fault EN99), at /api/soap/v1/... and at
//     IntermediaMarche's own paths, so an ente switches by changing host and port.
//
// Every call authenticates an ente from its route file: a bearer token (auth.tokens), a
// client certificate verified by the hub's TLS listener (auth.client_certs, by SHA-256
// fingerprint or CN), or HTTP Basic (auth.username/auth.password, what IntermediaMarche
// used). An ente sees and acts on its own messages only: another ente's message answers
// 404, exactly like a missing one. Failed authentications are logged and, past a bound,
// refused for a while per client address.
//
// Submissions go to interfaces the flows implement (ActiveSubmitter, OutcomeSubmitter);
// reads come straight from the store. Bodies are bounded; malformed JSON, XML or SOAP,
// a wrong content type or an oversize body get a 4xx (or a SOAP fault) saying why, in
// Italian first.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"snodo/pkg/route"
	"snodo/pkg/store"
)

// Defaults.
const (
	// DefaultMaxInvoiceBytes bounds a submitted invoice file (the SdI takes 5 MB; the
	// headroom lets the flow answer with the SdI's own code for an oversize file).
	DefaultMaxInvoiceBytes = 8 << 20
	// DefaultMaxOutcomeBytes bounds an Esito Committente file.
	DefaultMaxOutcomeBytes = 256 << 10
	// maxJSONBytes bounds a JSON outcome request.
	maxJSONBytes = 64 << 10
	// DefaultAuthFailures failed authentications within DefaultAuthWindow block a client
	// address for DefaultAuthWindow.
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
)

// Config configures the API.
type Config struct {
	Store  store.Store
	Routes *route.Routes
	// Active and Passive are the flows; nil answers "service not available" (503, FA99,
	// EN99) for submissions while reads keep working.
	Active  ActiveSubmitter
	Passive OutcomeSubmitter
	Logger  *slog.Logger
	Now     func() time.Time
	// MaxInvoiceBytes and MaxOutcomeBytes bound submitted files (defaults above).
	MaxInvoiceBytes int64
	MaxOutcomeBytes int64
	// TrustedProxies are addresses or CIDRs of reverse proxies whose X-Forwarded-For is
	// believed when counting failed authentications per client.
	TrustedProxies []string
	// AuthFailures and AuthWindow tune the failed-authentication bound.
	AuthFailures int
	AuthWindow   time.Duration
}

// API serves the enti. Build it with New and Mount it on the hub's mux.
type API struct {
	st       store.Store
	routes   *route.Routes
	active   ActiveSubmitter
	passive  OutcomeSubmitter
	log      *slog.Logger
	now      func() time.Time
	auth     *authenticator
	limit    *limiter
	proxies  []*net.IPNet
	maxInv   int64
	maxOut   int64
	services []*soapService
}

// New checks the configuration and indexes the enti's credentials.
func New(c Config) (*API, error) {
	if c.Store == nil || c.Routes == nil {
		return nil, errors.New("api: Store e Routes sono obbligatori (Store and Routes are required)")
	}
	a := &API{st: c.Store, routes: c.Routes, active: c.Active, passive: c.Passive, log: c.Logger, now: c.Now,
		maxInv: c.MaxInvoiceBytes, maxOut: c.MaxOutcomeBytes}
	if a.active == nil {
		a.active = unavailableActive{}
	}
	if a.passive == nil {
		a.passive = unavailablePassive{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "api")
	if a.now == nil {
		a.now = time.Now
	}
	if a.maxInv <= 0 {
		a.maxInv = DefaultMaxInvoiceBytes
	}
	if a.maxOut <= 0 {
		a.maxOut = DefaultMaxOutcomeBytes
	}
	var err error
	if a.auth, err = newAuthenticator(c.Routes); err != nil {
		return nil, err
	}
	if a.proxies, err = parseProxies(c.TrustedProxies); err != nil {
		return nil, err
	}
	n, w := c.AuthFailures, c.AuthWindow
	if n <= 0 {
		n = DefaultAuthFailures
	}
	if w <= 0 {
		w = DefaultAuthWindow
	}
	a.limit = newLimiter(n, w, a.now)
	a.services = a.soapServices()
	return a, nil
}

// Mount registers every route of the API on mux: /openapi.json, /api/v1/..., the SOAP
// services and the WSDL documents under /wsdl/snodo/.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /openapi.json", a.openAPI)
	a.mountREST(mux)
	a.mountSOAP(mux)
}

// Handler returns the API alone on its own mux (tests, or a hub that serves the API on a
// separate listener).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Mount(mux)
	return mux
}

// caller is an authenticated request.
type caller struct {
	ente *route.Ente
	how  string
	ip   string
}

// authenticate identifies the ente of a request, or says why not: errBlocked when the
// client address is over the failure bound.
func (a *API) authenticate(r *http.Request) (*caller, error) {
	ip := clientIP(r, a.proxies)
	if until, blocked := a.limit.blocked(ip); blocked {
		return nil, &blockedError{until: until}
	}
	e, how, err := a.auth.identify(r)
	if err != nil {
		just := a.limit.fail(ip)
		a.log.Warn("api: autenticazione fallita (authentication failed)", "remote", ip, "path", r.URL.Path, "reason", err.Error(),
			"blocked", just)
		return nil, err
	}
	if !e.Ente.IsEnabled() {
		return nil, errDisabled
	}
	return &caller{ente: e, how: how, ip: ip}, nil
}

var errDisabled = errors.New("ente disabilitato nel file di rotta (ente disabled)")

type blockedError struct{ until time.Time }

func (e *blockedError) Error() string {
	return fmt.Sprintf("troppe autenticazioni fallite da questo indirizzo: riprovare dopo %s (too many failed authentications)",
		e.until.Format(time.RFC3339))
}

// ---- JSON answers ----

// apiError is the JSON body of every error answer.
type apiError struct {
	Codice    string    `json:"codice"`
	Messaggio string    `json:"messaggio"`
	Errori    []Problem `json:"errori,omitempty"`
}

// Error codes of the REST API.
const (
	CodeUnauthenticated = "NON_AUTENTICATO"
	CodeForbidden       = "NON_AUTORIZZATO"
	CodeNotFound        = "NON_TROVATO"
	CodeBadRequest      = "RICHIESTA_NON_VALIDA"
	CodeTooLarge        = "TROPPO_GRANDE"
	CodeMediaType       = "TIPO_NON_SUPPORTATO"
	CodeInvalidOutcome  = "ESITO_NON_VALIDO"
	CodeOutcomeClosed   = "ESITO_NON_AMMESSO"
	CodeTooMany         = "TROPPI_TENTATIVI"
	CodeUnavailable     = "SERVIZIO_NON_DISPONIBILE"
	CodeInternal        = "ERRORE_INTERNO"
	CodeMethod          = "METODO_NON_AMMESSO"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"codice":"ERRORE_INTERNO","messaggio":"risposta non serializzabile (unserialisable answer)"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, code, msg string, problems ...Problem) {
	writeJSON(w, status, apiError{Codice: code, Messaggio: msg, Errori: problems})
}

// authError answers a failed authentication.
func (a *API) authError(w http.ResponseWriter, err error) {
	var be *blockedError
	switch {
	case errors.As(err, &be):
		w.Header().Set("Retry-After", strconv.Itoa(int(time.Until(be.until).Seconds())+1))
		writeError(w, http.StatusTooManyRequests, CodeTooMany, err.Error())
	case errors.Is(err, errDisabled):
		writeError(w, http.StatusForbidden, CodeForbidden, err.Error())
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="snodo", Basic realm="snodo"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthenticated, err.Error())
	}
}

// clip shortens s to n runes for messages.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// printable makes a value from a request safe to quote in a message.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	return clip(s, 80)
}
