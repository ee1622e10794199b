package soap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const testNS = "http://example.test/types"

type upload struct {
	XMLName  xml.Name `xml:"http://example.test/types upload"`
	NomeFile string   `xml:"NomeFile"`
	File     Binary   `xml:"File"`
}

type uploadResp struct {
	XMLName xml.Name `xml:"http://example.test/types uploadResp"`
	Size    int      `xml:"Size"`
	Echo    Binary   `xml:"Echo"`
}

type notice struct {
	XMLName xml.Name `xml:"http://example.test/types notice"`
	Text    string   `xml:"Text"`
}

func allBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// newTestServer serves an upload (echo) and a one-way notice operation over TLS.
func newTestServer(t *testing.T, opts ServerOptions, notices *atomic.Int32) (*httptest.Server, *Server) {
	t.Helper()
	ops := []Operation{
		{
			Name: "Upload", Action: "urn:upload", Request: xml.Name{Space: testNS, Local: "upload"},
			Handle: func(ctx context.Context, r *Request) (any, error) {
				var u upload
				if err := r.Decode(&u); err != nil {
					return nil, err
				}
				switch u.NomeFile {
				case "client-fault":
					return nil, ClientFault("nome %s rifiutato", u.NomeFile)
				case "boom":
					return nil, errors.New("disk on fire")
				}
				return &uploadResp{Size: len(u.File), Echo: u.File}, nil
			},
		},
		{
			Name: "Notice", Action: "urn:notice", Request: xml.Name{Space: testNS, Local: "notice"}, OneWay: true,
			Handle: func(ctx context.Context, r *Request) (any, error) {
				var n notice
				if err := r.Decode(&n); err != nil {
					return nil, err
				}
				notices.Add(1)
				return nil, nil
			},
		},
	}
	opts.Service = "Test"
	s, err := NewServer(opts, ops...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(ts.Close)
	return ts, s
}

func TestCallRoundTrip(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{}, &notices)
	payload := allBytes(70_000)
	for _, tc := range []struct {
		name    string
		mtom    bool
		version Version
	}{
		{"inline 1.1", false, V11},
		{"mtom 1.1", true, V11},
		{"inline 1.2", false, V12},
		{"mtom 1.2", true, V12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{HTTP: ts.Client(), MTOM: tc.mtom, Version: tc.version}
			var resp uploadResp
			if err := c.Call(context.Background(), ts.URL, "urn:upload", &upload{NomeFile: "a.xml", File: payload}, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Size != len(payload) || !bytes.Equal(resp.Echo, payload) {
				t.Fatalf("echo mismatch: size %d, %d bytes back", resp.Size, len(resp.Echo))
			}
			if err := c.Call(context.Background(), ts.URL, "urn:notice", &notice{Text: "x"}, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	if notices.Load() != 4 {
		t.Fatalf("notices = %d, want 4", notices.Load())
	}
}

func TestMarshalMTOMHasAttachment(t *testing.T) {
	ct, body, err := Marshal(V11, &upload{NomeFile: "n", File: []byte("raw bytes")}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ct, "multipart/related;") || !strings.Contains(ct, `type="application/xop+xml"`) {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.Contains(body, []byte("raw bytes")) || bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString([]byte("raw bytes")))) {
		t.Fatal("MTOM body must carry the raw attachment, not base64")
	}
	if !bytes.Contains(body, []byte(`<Include xmlns="http://www.w3.org/2004/08/xop/include" href="cid:`)) {
		t.Fatalf("no xop:Include in %s", body)
	}
	// Unqualified children: the payload root is prefixed, children carry no namespace.
	if !bytes.Contains(body, []byte(`<m:upload xmlns:m="http://example.test/types"><NomeFile>n</NomeFile>`)) {
		t.Fatalf("payload not prefixed as expected: %s", body)
	}
	ct, body, err = Marshal(V11, &upload{NomeFile: "n", File: []byte("raw")}, false)
	if err != nil || ct != ContentType11 || !bytes.Contains(body, []byte("<File>cmF3</File>")) {
		t.Fatalf("inline: %q %s %v", ct, body, err)
	}
}

// An Axis2-style MTOM request, written by hand: different part order, start parameter,
// quoted boundary, percent-encoded cid, one part in base64 transfer encoding.
func TestParseAxisStyleMTOM(t *testing.T) {
	file := allBytes(3000)
	meta := []byte("<meta>ok</meta>")
	var b bytes.Buffer
	fmt.Fprint(&b, "--MIMEBoundary_abc\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <1.file@apache.org>\r\n\r\n")
	b.Write(file)
	fmt.Fprint(&b, "\r\n--MIMEBoundary_abc\r\ncontent-type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\ncontent-transfer-encoding: binary\r\ncontent-id: <0.root@apache.org>\r\n\r\n")
	fmt.Fprint(&b, `<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>`+
		`<ns2:upload xmlns:ns2="http://example.test/types"><NomeFile>f.xml</NomeFile><File><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:1.file%40apache.org"/></File><Meta><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:2.meta@apache.org"></xop:Include></Meta></ns2:upload>`+
		`</soapenv:Body></soapenv:Envelope>`)
	fmt.Fprint(&b, "\r\n--MIMEBoundary_abc\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <2.meta@apache.org>\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(meta)
	fmt.Fprint(&b, enc[:8]+"\r\n"+enc[8:])
	fmt.Fprint(&b, "\r\n--MIMEBoundary_abc--\r\n")
	ct := `multipart/related; boundary="MIMEBoundary_abc"; type="application/xop+xml"; start="<0.root@apache.org>"; start-info="text/xml"`
	m, err := Parse("axis", ct, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !m.MTOM || m.Version != V11 || m.Body.Local != "upload" || m.Body.Space != testNS {
		t.Fatalf("message %+v", m)
	}
	var v struct {
		XMLName  xml.Name `xml:"http://example.test/types upload"`
		NomeFile string   `xml:"NomeFile"`
		File     Binary   `xml:"File"`
		Meta     Binary   `xml:"Meta"`
	}
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.File, file) || !bytes.Equal(v.Meta, meta) || v.NomeFile != "f.xml" {
		t.Fatalf("decoded %q, %d file bytes, meta %q", v.NomeFile, len(v.File), v.Meta)
	}
}

func TestInlineBase64WithLineBreaks(t *testing.T) {
	data := allBytes(500)
	enc := base64.StdEncoding.EncodeToString(data)
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteString("\r\n")
	}
	env := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><t:upload xmlns:t="http://example.test/types"><NomeFile>x</NomeFile><File>` + "\n" + wrapped.String() + `</File></t:upload></s:Body></s:Envelope>`
	m, err := Parse("inline", "text/xml", []byte(env))
	if err != nil {
		t.Fatal(err)
	}
	var u upload
	if err := m.Decode(&u); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(u.File, data) {
		t.Fatal("base64 with line breaks decoded wrong")
	}
}

func post(t *testing.T, ts *httptest.Server, ct, action string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if action != "-" {
		req.Header.Set("SOAPAction", action)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func env11(body string) []byte {
	return []byte(`<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>` + body + `</soap:Body></soap:Envelope>`)
}

const goodUpload = `<t:upload xmlns:t="http://example.test/types"><NomeFile>a</NomeFile><File>QUJD</File></t:upload>`

func TestDispatch(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{}, &notices)
	for _, tc := range []struct {
		name, ct, action string
		body             []byte
		status           int
		want             string
	}{
		{"quoted action", "text/xml", `"urn:upload"`, env11(goodUpload), 200, "<Size>3</Size>"},
		{"unquoted action", "text/xml; charset=utf-8", `urn:upload`, env11(goodUpload), 200, "<Size>3</Size>"},
		{"empty action, by element", "text/xml", `""`, env11(goodUpload), 200, "<Size>3</Size>"},
		{"no action header", "text/xml", "-", env11(goodUpload), 200, "<Size>3</Size>"},
		{"unknown action, known element", "text/xml", `"urn:other"`, env11(goodUpload), 200, "<Size>3</Size>"},
		{"soap 1.2 action in content type", `application/soap+xml; charset=utf-8; action="urn:upload"`, "-",
			[]byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>` + goodUpload + `</e:Body></e:Envelope>`), 200, `http://www.w3.org/2003/05/soap-envelope`},
		{"action and element disagree", "text/xml", `"urn:notice"`, env11(goodUpload), 500, "SOAPAction and body element disagree"},
		{"unknown element", "text/xml", `""`, env11(`<t:nope xmlns:t="http://example.test/types"/>`), 500, "unknown operation"},
		{"wrong namespace", "text/xml", `""`, env11(`<t:upload xmlns:t="urn:wrong"><NomeFile>a</NomeFile></t:upload>`), 500, "unknown operation"},
		{"one-way", "text/xml", `"urn:notice"`, env11(`<t:notice xmlns:t="http://example.test/types"><Text>x</Text></t:notice>`), 202, ""},
		{"handler client fault", "text/xml", `"urn:upload"`, env11(`<t:upload xmlns:t="http://example.test/types"><NomeFile>client-fault</NomeFile><File/></t:upload>`), 500, "<faultcode>soap:Client</faultcode><faultstring xml:lang=\"it\">nome client-fault rifiutato"},
		{"handler error is server fault, hides cause", "text/xml", `"urn:upload"`, env11(`<t:upload xmlns:t="http://example.test/types"><NomeFile>boom</NomeFile><File/></t:upload>`), 500, "<faultcode>soap:Server</faultcode>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, ts, tc.ct, tc.action, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d body %s; want %d containing %q", status, body, tc.status, tc.want)
			}
			if strings.Contains(body, "disk on fire") {
				t.Fatal("internal error text leaked to the peer")
			}
		})
	}
}

func TestMalformedGivesClientFault(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{}, &notices)
	mp := func(boundary, start string, parts ...string) (string, []byte) {
		var b bytes.Buffer
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
		ct := `multipart/related; type="application/xop+xml"; boundary="` + boundary + `"`
		if start != "" {
			ct += `; start="` + start + `"`
		}
		return ct, b.Bytes()
	}
	xopRoot := "Content-Type: application/xop+xml\r\nContent-ID: <root>\r\n\r\n" + string(env11(
		`<t:upload xmlns:t="http://example.test/types"><NomeFile>a</NomeFile><File><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:missing"/></File></t:upload>`))
	badCID, badCIDBody := mp("b1", "<root>", xopRoot)
	noStart, noStartBody := mp("b2", "<nothere>", "Content-ID: <root>\r\n\r\n"+string(env11(goodUpload)))
	emptyMP, emptyMPBody := mp("b3", "")
	for _, tc := range []struct {
		name, ct string
		body     []byte
		want     string
	}{
		{"not xml", "text/xml", []byte("hello"), "not XML"},
		{"empty", "text/xml", nil, "empty document"},
		{"doctype", "text/xml", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>`), "DOCTYPE"},
		{"not an envelope", "text/xml", []byte(`<x/>`), "not a SOAP message"},
		{"unknown soap ns", "text/xml", []byte(`<s:Envelope xmlns:s="urn:x"><s:Body/></s:Envelope>`), "unknown SOAP namespace"},
		{"no body", "text/xml", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>`), "incomplete SOAP envelope"},
		{"empty body", "text/xml", env11(""), "empty soap:Body"},
		{"truncated", "text/xml", env11(goodUpload)[:120], "XML"},
		{"two elements", "text/xml", env11(goodUpload + goodUpload), "more than one element"},
		{"bad base64", "text/xml", env11(`<t:upload xmlns:t="http://example.test/types"><NomeFile>a</NomeFile><File>!!!</File></t:upload>`), "invalid base64"},
		{"child in base64", "text/xml", env11(`<t:upload xmlns:t="http://example.test/types"><NomeFile>a</NomeFile><File><x/></File></t:upload>`), "unexpected child"},
		{"tag mismatch", "text/xml", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><t:upload xmlns:t="http://example.test/types"></t:uploadX></s:Body></s:Envelope>`), "XML"},
		{"multipart no boundary", "multipart/related; type=\"application/xop+xml\"", []byte("--x\r\n"), "without a boundary"},
		{"multipart garbage", `multipart/related; boundary="zz"`, []byte("no parts here"), "multipart"},
		{"multipart empty", emptyMP, emptyMPBody, "no parts"},
		{"xop unknown cid", badCID, badCIDBody, "refers to no MIME part"},
		{"start part missing", noStart, noStartBody, "start part is missing"},
		{"wrong content type", "image/png", []byte("x"), "not a SOAP content type"},
		{"bad content type", "text/xml; ===", []byte("x"), "invalid Content-Type"},
		{"latin1 declared", "text/xml", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + goodUpload + `</s:Body></s:Envelope>`), "ISO-8859-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, ts, tc.ct, `""`, tc.body)
			if status != 500 || !strings.Contains(body, "soap:Client") || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d body %s; want Client fault containing %q", status, body, tc.want)
			}
		})
	}
	// Still serving afterwards.
	if status, body := post(t, ts, "text/xml", `""`, env11(goodUpload)); status != 200 {
		t.Fatalf("server broken after malformed input: %d %s", status, body)
	}
}

func TestOversize(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{MaxBodyBytes: 4096}, &notices)
	c := &Client{HTTP: ts.Client()}
	err := c.Call(context.Background(), ts.URL, "urn:upload", &upload{NomeFile: "big", File: allBytes(10_000)}, &uploadResp{})
	var f *Fault
	if !errors.As(err, &f) || f.Code != CodeClient || !strings.Contains(f.String, "4096") {
		t.Fatalf("want Client fault naming the limit, got %v", err)
	}
	if Retryable(err) {
		t.Fatal("oversize must not be retryable")
	}
	// Client side bound on the response.
	small := &Client{HTTP: ts.Client(), MaxResponseBytes: 100}
	err = small.Call(context.Background(), ts.URL, "urn:upload", &upload{NomeFile: "ok", File: allBytes(1000)}, &uploadResp{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{}, &notices)
	c := &Client{HTTP: ts.Client()}
	ctx := context.Background()

	err := c.Call(ctx, ts.URL, "urn:upload", &upload{NomeFile: "boom"}, &uploadResp{})
	var f *Fault
	if !errors.As(err, &f) || f.Code != CodeServer || f.HTTPStatus != 500 || !Retryable(err) {
		t.Fatalf("want retryable Server fault, got %v", err)
	}
	err = c.Call(ctx, ts.URL, "urn:upload", &upload{NomeFile: "client-fault"}, &uploadResp{})
	if !errors.As(err, &f) || f.Code != CodeClient || Retryable(err) {
		t.Fatalf("want non-retryable Client fault, got %v", err)
	}

	html := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body>Service Unavailable</body></html>")
	}))
	defer html.Close()
	err = (&Client{HTTP: html.Client()}).Call(ctx, html.URL, "urn:upload", &upload{NomeFile: "a"}, &uploadResp{})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 503 || !strings.Contains(he.Snippet, "Service Unavailable") || !Retryable(err) {
		t.Fatalf("want retryable HTTPError 503, got %v", err)
	}

	// Nothing listening: not sent.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	err = c.Call(ctx, "https://"+addr, "urn:upload", &upload{NomeFile: "a"}, &uploadResp{})
	var te *TransportError
	if !errors.As(err, &te) || te.Sent || !Retryable(err) {
		t.Fatalf("want TransportError not sent, got %v", err)
	}

	// The server reads the whole request then drops the connection: outcome unknown.
	drop := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		conn, _, _ := hj.Hijack()
		conn.Close()
	}))
	defer drop.Close()
	err = (&Client{HTTP: drop.Client()}).Call(ctx, drop.URL, "urn:upload", &upload{NomeFile: "a"}, &uploadResp{})
	if !errors.As(err, &te) || !te.Sent {
		t.Fatalf("want TransportError with Sent, got %v", err)
	}

	// 200 with an empty body where an answer is expected.
	empty := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer empty.Close()
	err = (&Client{HTTP: empty.Client()}).Call(ctx, empty.URL, "urn:upload", &upload{NomeFile: "a"}, &uploadResp{})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("want ErrMalformed for empty answer, got %v", err)
	}
	// but fine for one-way
	if err := (&Client{HTTP: empty.Client()}).Call(ctx, empty.URL, "urn:notice", &notice{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestFaultVersions(t *testing.T) {
	for _, v := range []Version{V11, V12} {
		in := &Fault{Code: CodeClient, String: "nome <file> errato & co", Detail: "dettaglio"}
		m, err := Parse("fault", v.contentType(), marshalFault(v, in))
		if err != nil {
			t.Fatal(err)
		}
		if m.Fault == nil || m.Fault.Code != CodeClient || m.Fault.String != in.String || m.Fault.Detail != "dettaglio" {
			t.Fatalf("%v: fault %+v", v, m.Fault)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	var notices atomic.Int32
	ts, _ := newTestServer(t, ServerOptions{}, &notices)
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

func TestNewServerRejectsDuplicates(t *testing.T) {
	h := func(context.Context, *Request) (any, error) { return nil, nil }
	_, err := NewServer(ServerOptions{},
		Operation{Name: "a", Action: "x", Request: xml.Name{Local: "a"}, Handle: h},
		Operation{Name: "b", Action: "x", Request: xml.Name{Local: "b"}, Handle: h})
	if err == nil {
		t.Fatal("duplicate action accepted")
	}
	_, err = NewServer(ServerOptions{},
		Operation{Name: "a", Action: "x", Request: xml.Name{Local: "a"}, Handle: h},
		Operation{Name: "b", Action: "y", Request: xml.Name{Local: "a"}, Handle: h})
	if err == nil {
		t.Fatal("duplicate element accepted")
	}
}
