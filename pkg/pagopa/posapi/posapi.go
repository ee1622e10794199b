// Package posapi is the REST API enti use to manage their debt positions on the hub:
// create, read, list, update and cancel, in JSON, described by the OpenAPI 3 document
// served at <prefix>/openapi.yaml (openapi.yaml in this folder).
//
// The hub mounts the Handler under a prefix (e.g. /api/v1/positions) behind its own
// authentication; EnteFromRequest tells the handler which ente the caller is, and every
// operation is confined to that ente's positions: another ente's position is "not found".
// Amounts are integer euro cents, dates YYYY-MM-DD. Updates and cancellations are
// optimistic: they name the version they read (field version, or an If-Match header) and
// get 409 when the position changed meanwhile. Errors are JSON {"error", "fields"} with
// messages in Italian, then English.
package posapi

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/position"
)

// OpenAPI is the API's OpenAPI 3 document.
//
//go:embed openapi.yaml
var OpenAPI []byte

// EnteFromRequest returns the authenticated ente of a request (its route id or fiscal
// code), false when the request carries none.
type EnteFromRequest func(*http.Request) (string, bool)

// Options tune the handler.
type Options struct {
	Prefix       string // where the hub mounts it, e.g. /api/v1/positions
	Logger       *slog.Logger
	MaxBodyBytes int64 // default 1 MiB
}

// Handler serves the API.
type Handler struct {
	cfg  *pagopa.Config
	db   *posdb.DB
	ente EnteFromRequest
	log  *slog.Logger
	max  int64
	mux  *http.ServeMux
}

// New builds the API over the repository.
func New(cfg *pagopa.Config, db *posdb.DB, ente EnteFromRequest, o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	p := strings.TrimRight(o.Prefix, "/")
	h := &Handler{cfg: cfg, db: db, ente: ente, log: o.Logger.With("service", "positions-api"), max: o.MaxBodyBytes, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+p+"/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI)
	})
	h.mux.HandleFunc("POST "+p, h.auth(h.create))
	h.mux.HandleFunc("GET "+p, h.auth(h.list))
	h.mux.HandleFunc("GET "+p+"/by-notice/{notice}", h.auth(h.byNotice))
	h.mux.HandleFunc("GET "+p+"/{iupd}", h.auth(h.get))
	h.mux.HandleFunc("PUT "+p+"/{iupd}", h.auth(h.update))
	h.mux.HandleFunc("POST "+p+"/{iupd}/cancel", h.auth(h.cancel))
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request, e *pagopa.Ente)

// auth resolves the caller's ente.
func (h *Handler) auth(next handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := h.ente(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "richiesta non autenticata: serve il token dell'ente (unauthenticated: the ente's token is required)", nil)
			return
		}
		e := h.lookup(id)
		if e == nil {
			writeError(w, http.StatusForbidden, fmt.Sprintf("l'ente %s non è configurato per pagoPA sull'hub (ente not enabled for pagoPA)", id), nil)
			return
		}
		next(w, r, e)
	}
}

func (h *Handler) lookup(id string) *pagopa.Ente {
	for i := range h.cfg.Enti {
		if e := &h.cfg.Enti[i]; e.RouteID == id && id != "" {
			return e
		}
	}
	return h.cfg.Ente(id)
}

// Error is the body of an error response.
type Error struct {
	Error  string                `json:"error"`
	Fields []position.FieldError `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string, fields []position.FieldError) {
	writeJSON(w, status, Error{Error: msg, Fields: fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// View is a position as the API returns it.
type View struct {
	*position.Position
	Amount         int64          `json:"amount"`
	EffectiveState position.State `json:"effectiveState"` // expired when past the expiry date
}

func (h *Handler) view(p *position.Position) View {
	return View{Position: p, Amount: p.Amount(), EffectiveState: p.EffectiveState(h.db.Now())}
}

// Input is a position as a client sends it. For the common single payment, amount,
// dueDate and transfers may be given at the top level instead of options.
type Input struct {
	position.Position
	Amount    int64               `json:"amount,omitempty"`
	DueDate   position.Date       `json:"dueDate,omitzero"`
	Transfers []position.Transfer `json:"transfers,omitempty"`
}

func (h *Handler) decode(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) (*position.Position, bool) {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.max))
	d.DisallowUnknownFields()
	var in Input
	if err := d.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("corpo oltre %d byte (body exceeds %d bytes)", mbe.Limit, mbe.Limit), nil)
		} else {
			writeError(w, http.StatusBadRequest, "JSON non valido: "+err.Error()+" (invalid JSON)", nil)
		}
		return nil, false
	}
	if d.More() {
		writeError(w, http.StatusBadRequest, "JSON non valido: un solo oggetto per richiesta (one JSON object per request)", nil)
		return nil, false
	}
	p := &in.Position
	if len(p.Options) == 0 && (in.Amount != 0 || len(in.Transfers) > 0 || !in.DueDate.IsZero()) {
		p.Options = []position.Option{{Amount: in.Amount, DueDate: in.DueDate, Transfers: in.Transfers}}
	} else if in.Amount != 0 || len(in.Transfers) > 0 {
		writeError(w, http.StatusBadRequest, "indicare amount/dueDate/transfers oppure options, non entrambi (give amount/dueDate/transfers or options, not both)", nil)
		return nil, false
	}
	if p.Ente != "" && p.Ente != e.FiscalCode {
		writeError(w, http.StatusForbidden, fmt.Sprintf("ente %s diverso dall'ente autenticato %s (ente differs from the authenticated one)", p.Ente, e.FiscalCode), nil)
		return nil, false
	}
	p.Ente = e.FiscalCode
	// State, timestamps and payments are the hub's.
	p.State, p.CreatedAt, p.UpdatedAt = "", time.Time{}, time.Time{}
	for i := range p.Options {
		p.Options[i].ReceiptID, p.Options[i].PaidAt = "", nil
	}
	return p, true
}

// fail maps repository errors to responses.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, e *pagopa.Ente, err error) {
	var ve *position.ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusUnprocessableEntity, "posizione non valida (invalid position)", ve.Fields)
	case errors.Is(err, posdb.ErrNotFound):
		writeError(w, http.StatusNotFound, posdb.ErrNotFound.Error(), nil)
	case errors.Is(err, posdb.ErrExists), errors.Is(err, posdb.ErrConflict), errors.Is(err, posdb.ErrNotModifiable), errors.Is(err, posdb.ErrNoticeTaken):
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		writeError(w, http.StatusConflict, msg, nil)
	default:
		h.log.Error("positions-api: internal error", "ente", e.FiscalCode, "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "errore interno: riprovare più tardi (internal error: retry later)", nil)
	}
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	p, ok := h.decode(w, r, e)
	if !ok {
		return
	}
	act, err := h.db.Create(r.Context(), e, p)
	if err != nil {
		h.fail(w, r, e, err)
		return
	}
	status := http.StatusCreated
	if act == posdb.Unchanged {
		status = http.StatusOK // the same creation again: idempotent
	}
	h.log.Info("positions-api: created", "ente", e.FiscalCode, "iupd", p.IUPD, "action", act)
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+p.IUPD)
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, status, h.view(p))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	p, err := h.db.Get(r.Context(), e.FiscalCode, r.PathValue("iupd"))
	if err != nil {
		h.fail(w, r, e, err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, h.view(p))
}

func (h *Handler) byNotice(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	p, err := h.db.ByNotice(r.Context(), e.FiscalCode, r.PathValue("notice"))
	if err != nil {
		h.fail(w, r, e, err)
		return
	}
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, h.view(p))
}

// version reads the version a client names: If-Match wins over the body's.
func version(r *http.Request, body int64) (int64, error) {
	im := strings.Trim(strings.TrimPrefix(r.Header.Get("If-Match"), "W/"), `"`)
	if im == "" {
		return body, nil
	}
	v, err := strconv.ParseInt(im, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("If-Match %q: serve la versione letta, es. \"3\" (the version read, e.g. \"3\")", r.Header.Get("If-Match"))
	}
	return v, nil
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func (h *Handler) update(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	p, ok := h.decode(w, r, e)
	if !ok {
		return
	}
	iupd := r.PathValue("iupd")
	if p.IUPD != "" && p.IUPD != iupd {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("iupd %q diverso da quello dell'indirizzo %q (iupd differs from the URL)", p.IUPD, iupd), nil)
		return
	}
	p.IUPD = iupd
	v, err := version(r, p.Version)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if v == 0 {
		writeError(w, http.StatusPreconditionRequired, "indicare la versione letta (campo version o If-Match) (the version read is required)", nil)
		return
	}
	p.Version = v
	if err := h.db.Update(r.Context(), e, p); err != nil {
		h.fail(w, r, e, err)
		return
	}
	h.log.Info("positions-api: updated", "ente", e.FiscalCode, "iupd", p.IUPD, "version", p.Version)
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, h.view(p))
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	v, err := version(r, 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	p, err := h.db.Cancel(r.Context(), e.FiscalCode, r.PathValue("iupd"), v)
	if err != nil {
		h.fail(w, r, e, err)
		return
	}
	h.log.Info("positions-api: cancelled", "ente", e.FiscalCode, "iupd", p.IUPD)
	w.Header().Set("ETag", etag(p.Version))
	writeJSON(w, http.StatusOK, h.view(p))
}

// Page is a page of the list.
type Page struct {
	Positions []View `json:"positions"`
	Next      string `json:"next,omitempty"` // cursor of the next page (after=...)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, e *pagopa.Ente) {
	q := r.URL.Query()
	f := posdb.Filter{Ente: e.FiscalCode, State: position.State(q.Get("state")), DebtorID: q.Get("debtor"), Type: q.Get("type"), Document: q.Get("document")}
	if f.State != "" && !f.State.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: valori ammessi valid, partially_paid, paid, expired, cancelled (allowed values)", f.State), nil)
		return
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"after", &f.After}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q non valido (invalid cursor)", p.name, s), nil)
				return
			}
			*p.dst = v
		}
	}
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: da 1 a 1000 (1 to 1000)", s), nil)
			return
		}
		f.Limit = v
	}
	ps, next, err := h.db.List(r.Context(), f)
	if err != nil {
		h.fail(w, r, e, err)
		return
	}
	page := Page{Positions: make([]View, 0, len(ps))}
	for _, p := range ps {
		page.Positions = append(page.Positions, h.view(p))
	}
	if next != 0 {
		page.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, page)
}
