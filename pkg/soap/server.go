package soap

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// Operation is one operation a [Server] serves.
type Operation struct {
	// Name names the operation in logs and faults, e.g. "RiceviFatture".
	Name string
	// Action is the SOAPAction of the WSDL binding (unquoted).
	Action string
	// Request is the name of the body element the operation takes.
	Request xml.Name
	// OneWay operations answer HTTP 202 with an empty body.
	OneWay bool
	// Handle decodes the request (req.Decode) and returns the response payload (nil for
	// a one-way operation). An error that is (or wraps) a *Fault is sent as is; any other
	// error becomes a soap:Server fault, so the caller retries.
	Handle func(ctx context.Context, req *Request) (any, error)
}

// ResponseEncoding says how a server writes Binary fields of its responses.
type ResponseEncoding int

// Response encodings.
const (
	SameAsRequest ResponseEncoding = iota // MTOM if the request was MTOM, else inline
	AlwaysInline
	AlwaysMTOM
)

// ServerOptions configure a [Server].
type ServerOptions struct {
	// Service names the service in logs, e.g. "RicezioneFatture".
	Service string
	// MaxBodyBytes bounds a request (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxInFlight bounds the requests processed at once (default 64); others wait for a
	// slot until their context ends.
	MaxInFlight int
	Encoding    ResponseEncoding
	Logger      *slog.Logger
}

// Server serves the operations of one SOAP endpoint.
type Server struct {
	opts     ServerOptions
	byAction map[string]*Operation
	byElem   map[xml.Name]*Operation
	slots    chan struct{}
	log      *slog.Logger
}

// Request is an incoming call, handed to Operation.Handle.
type Request struct {
	// Action is the SOAPAction as received (unquoted), possibly empty.
	Action string
	// HTTP is the underlying request (TLS state, remote address, headers).
	HTTP *http.Request
	*Message
}

// NewServer checks the operations and builds the handler.
func NewServer(opts ServerOptions, ops ...Operation) (*Server, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		byAction: map[string]*Operation{},
		byElem:   map[xml.Name]*Operation{},
		slots:    make(chan struct{}, opts.MaxInFlight),
		log:      opts.Logger.With("service", opts.Service),
	}
	for i := range ops {
		op := &ops[i]
		if op.Handle == nil || op.Request.Local == "" {
			return nil, fmt.Errorf("soap: %s: operation %q needs Request and Handle", opts.Service, op.Name)
		}
		if op.Action != "" {
			if _, dup := s.byAction[op.Action]; dup {
				return nil, fmt.Errorf("soap: %s: SOAPAction %q used twice", opts.Service, op.Action)
			}
			s.byAction[op.Action] = op
		}
		if _, dup := s.byElem[op.Request]; dup {
			return nil, fmt.Errorf("soap: %s: body element %s used twice", opts.Service, op.Request.Local)
		}
		s.byElem[op.Request] = op
	}
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	begin := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "servizio SOAP: usare POST (SOAP service: use POST)", http.StatusMethodNotAllowed)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-r.Context().Done():
		return
	}
	action := unquote(r.Header.Get("SOAPAction"))
	if action == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
			action = unquote(params["action"]) // SOAP 1.2
		}
	}
	name := "richiesta SOAP da " + r.RemoteAddr
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), r.ContentLength, s.opts.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, V11, "", &Fault{Code: CodeClient, String: fmt.Sprintf(
				"richiesta oltre il limite di %d byte: ridurre il file (request exceeds the %d-byte limit)", mbe.Limit, mbe.Limit)}, begin, r, nil)
			return
		}
		s.fail(w, V11, "", ServerFault("lettura della richiesta interrotta (request read failed): %v", err), begin, r, nil)
		return
	}
	msg, err := Parse(name, r.Header.Get("Content-Type"), body)
	if err != nil {
		s.fail(w, V11, "", ClientFault("%v", err), begin, r, nil)
		return
	}
	op, f := s.route(action, msg)
	if f != nil {
		s.fail(w, msg.Version, "", f, begin, r, nil)
		return
	}
	req := &Request{Action: action, HTTP: r, Message: msg}
	resp, err := op.Handle(r.Context(), req)
	if err != nil {
		var fault *Fault
		if !errors.As(err, &fault) {
			if errors.Is(err, ErrMalformed) {
				fault = ClientFault("%v", err)
			} else {
				fault = ServerFault("%s: errore interno, riprovare più tardi (internal error, retry later)", op.Name)
			}
		}
		s.fail(w, msg.Version, op.Name, fault, begin, r, err)
		return
	}
	if op.OneWay {
		w.WriteHeader(http.StatusAccepted)
		s.log.Debug("soap: one-way done", "op", op.Name, "mtom", msg.MTOM, "bytes", len(body), "elapsed", time.Since(begin))
		return
	}
	mtom := s.opts.Encoding == AlwaysMTOM || s.opts.Encoding == SameAsRequest && msg.MTOM
	ct, out, err := Marshal(msg.Version, resp, mtom)
	if err != nil {
		s.fail(w, msg.Version, op.Name, ServerFault("%s: risposta non serializzabile (response not serialisable)", op.Name), begin, r, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	s.log.Debug("soap: done", "op", op.Name, "mtom", msg.MTOM, "bytes", len(body), "elapsed", time.Since(begin))
}

// readBody reads r whole, sized by the declared length when there is one (and within
// max), so a request is read without reallocations.
func readBody(r io.Reader, declared, max int64) ([]byte, error) {
	if declared <= 0 || declared > max {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, declared+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// route picks the operation by SOAPAction, or by body element when the action is empty
// or unknown, and checks that both agree.
func (s *Server) route(action string, msg *Message) (*Operation, *Fault) {
	if msg.Fault != nil {
		return nil, ClientFault("ricevuto un soap:Fault come richiesta (a fault is not a request)")
	}
	byElem := s.byElem[msg.Body]
	if op, ok := s.byAction[action]; ok && action != "" {
		if byElem != op {
			return nil, ClientFault("l'azione %q (%s) richiede l'elemento {%s}%s, ricevuto {%s}%s (SOAPAction and body element disagree)",
				action, op.Name, op.Request.Space, op.Request.Local, msg.Body.Space, msg.Body.Local)
		}
		return op, nil
	}
	if byElem != nil {
		return byElem, nil
	}
	return nil, ClientFault("operazione sconosciuta: SOAPAction %q, elemento {%s}%s; il servizio %s non la offre (unknown operation)",
		action, msg.Body.Space, msg.Body.Local, s.opts.Service)
}

func (s *Server) fail(w http.ResponseWriter, v Version, op string, f *Fault, begin time.Time, r *http.Request, cause error) {
	out := marshalFault(v, f)
	w.Header().Set("Content-Type", v.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(out)
	attrs := []any{"op", op, "remote", r.RemoteAddr, "fault", f.Code, "reason", f.String, "elapsed", time.Since(begin)}
	if cause != nil {
		attrs = append(attrs, "err", cause.Error())
	}
	if f.Code == CodeServer {
		s.log.Error("soap: fault", attrs...)
	} else {
		s.log.Warn("soap: fault", attrs...)
	}
}
