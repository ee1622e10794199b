package ws_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ws"
	"snodo/pkg/message"
	"snodo/pkg/testpki"
)

// fixture reads a file of testdata/ws.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "ws", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is what the ente's server saw.
type request struct {
	Header http.Header
	Body   []byte
	// ClientCN is the subject CN of the verified client certificate, if any.
	ClientCN string
}

// enteServer is a real HTTPS (or HTTP) server standing in for an ente's system: it
// records every request and answers with the test's handler.
type enteServer struct {
	srv    *httptest.Server
	caFile string // PEM of the CA that issued the server certificate
	mu     sync.Mutex
	reqs   []request
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

type serverOpts struct {
	plain    bool        // plain HTTP instead of TLS
	clientCA *testpki.CA // require client certificates from this CA
}

func newEnteServer(t *testing.T, o serverOpts, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *enteServer {
	t.Helper()
	es := &enteServer{handle: handle}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rq := request{Header: r.Header.Clone(), Body: body}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			rq.ClientCN = r.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		es.mu.Lock()
		es.reqs = append(es.reqs, rq)
		handle := es.handle
		es.mu.Unlock()
		handle(w, r, body)
	})
	es.srv = httptest.NewUnstartedServer(h)
	if o.plain {
		es.srv.Start()
	} else {
		ca := testpki.MustCA("CA del sistema dell'ente")
		iss, err := ca.Server("ente.test", testpki.Options{})
		if err != nil {
			t.Fatal(err)
		}
		es.srv.TLS = &tls.Config{Certificates: []tls.Certificate{iss.TLS()}}
		if o.clientCA != nil {
			es.srv.TLS.ClientCAs = o.clientCA.Pool()
			es.srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		es.srv.StartTLS()
		if es.caFile, err = ca.WriteFile(t.TempDir(), "ente-ca"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(es.srv.Close)
	return es
}

func (es *enteServer) requests() []request {
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([]request(nil), es.reqs...)
}

func (es *enteServer) setHandler(h func(w http.ResponseWriter, r *http.Request, body []byte)) {
	es.mu.Lock()
	es.handle = h
	es.mu.Unlock()
}

// endpoint builds a checked endpoint for the server at path.
func (es *enteServer) endpoint(t *testing.T, path string, set *ws.Settings, tweak func(*channel.Endpoint)) *channel.Endpoint {
	t.Helper()
	u, err := url.Parse(es.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	ep := &channel.Endpoint{Name: "comune-a/passive.protocol", Kind: "ws", URL: u, Settings: set,
		TLS: channel.TLS{CAFile: es.caFile}}
	if tweak != nil {
		tweak(ep)
	}
	if err := set.Check(ep); err != nil {
		t.Fatalf("settings refused: %v", err)
	}
	return ep
}

func newSender(t *testing.T, ep *channel.Endpoint) channel.Sender {
	t.Helper()
	s, err := ws.NewSender(ep, channel.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// invoiceDelivery is a passive invoice as the hub hands it to a channel: the file as
// received from the SdI first, its metadata second.
func invoiceDelivery(t testing.TB) *channel.Delivery {
	return &channel.Delivery{MessageID: message.NewID(), Ente: "comune-a", Phase: "passive.protocol",
		FileName: "IT01234567890_11111.xml.p7m", Attempt: 1,
		Files: []message.File{
			{Name: "IT01234567890_11111.xml.p7m", Role: message.RoleMain, Data: fixture(t, "IT01234567890_11111.xml.p7m")},
			{Name: "IT01234567890_11111_MT_001.xml", Role: message.RoleMetadata, Data: fixture(t, "IT01234567890_11111_MT_001.xml")},
		},
		Headers: map[string]string{message.HeaderIdentificativoSdI: "111", message.HeaderCodiceDestinatario: "UFA000"}}
}

// notificationDelivery is an SdI message file delivered to the ente.
func notificationDelivery(t testing.TB, name, phase string) *channel.Delivery {
	return &channel.Delivery{MessageID: message.NewID(), Ente: "comune-a", Phase: phase, FileName: name, Attempt: 1,
		Files:   []message.File{{Name: name, Role: message.RoleMain, Data: fixture(t, name)}},
		Headers: map[string]string{}}
}
