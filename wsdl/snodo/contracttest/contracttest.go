// Package contracttest checks SOAP messages against snodo's contracts for enti in tests:
// it takes the payload out of a real envelope (namespaces carried over) and validates it
// with libxml2 against the type schema of its namespace, so a test proves what went on
// the wire, not what a Go struct meant to send.
package contracttest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"snodo/pkg/soap"
	"snodo/pkg/xsd"
	snodowsdl "snodo/wsdl/snodo"
)

var (
	once     sync.Once
	compiled map[string]*xsd.Schema
	compErr  error
)

// schemas compiles every type schema once per test binary, keyed by target namespace.
func schemas() (map[string]*xsd.Schema, error) {
	once.Do(func() {
		byNS := map[string]string{
			snodowsdl.NSRegistrazioneFattura:  snodowsdl.EnteRegistrazioneFattura,
			snodowsdl.NSRegistrazioneNotifica: snodowsdl.EnteRegistrazioneNotifica,
			snodowsdl.NSNotificaAttiva:        snodowsdl.EnteNotificaAttiva,
			snodowsdl.NSFatturaAttiva:         snodowsdl.HubFatturaAttiva,
			snodowsdl.NSEsitoCommittente:      snodowsdl.HubEsitoCommittente,
			snodowsdl.NSDettaglio:             snodowsdl.SnodoDettaglio,
		}
		compiled = map[string]*xsd.Schema{}
		for ns, name := range byNS {
			s, err := xsd.Compile(snodowsdl.FS, name)
			if err != nil {
				compErr = fmt.Errorf("contracttest: compile %s: %w", name, err)
				return
			}
			compiled[ns] = s
		}
	})
	return compiled, compErr
}

// Parts are the elements of a SOAP envelope, each a standalone XML document.
type Parts struct {
	Body    []byte   // the element inside soap:Body
	Headers [][]byte // the elements inside soap:Header
}

// Split takes a plain (not MTOM) SOAP 1.1 or 1.2 envelope apart.
func Split(envelope []byte) (Parts, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(envelope); err != nil {
		return Parts{}, fmt.Errorf("contracttest: envelope: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return Parts{}, fmt.Errorf("contracttest: empty envelope")
	}
	ctx, err := etreeutils.NSBuildParentContext(root)
	if err != nil {
		return Parts{}, err
	}
	if ctx, err = ctx.SubContext(root); err != nil {
		return Parts{}, err
	}
	var out Parts
	for _, sec := range root.ChildElements() {
		ns, _ := ctx.LookupPrefix(sec.Space)
		if ns != soap.NS11 && ns != soap.NS12 {
			return Parts{}, fmt.Errorf("contracttest: <%s> in namespace %q inside the envelope", sec.Tag, ns)
		}
		sctx, err := ctx.SubContext(sec)
		if err != nil {
			return Parts{}, err
		}
		for _, el := range sec.ChildElements() {
			det, err := etreeutils.NSDetatch(sctx, el)
			if err != nil {
				return Parts{}, err
			}
			d := etree.NewDocument()
			d.SetRoot(det)
			b, err := d.WriteToBytes()
			if err != nil {
				return Parts{}, err
			}
			switch sec.Tag {
			case "Body":
				if out.Body != nil {
					return Parts{}, fmt.Errorf("contracttest: more than one element in soap:Body")
				}
				out.Body = b
			case "Header":
				out.Headers = append(out.Headers, b)
			}
		}
	}
	if out.Body == nil {
		return Parts{}, fmt.Errorf("contracttest: no payload in soap:Body")
	}
	return out, nil
}

// Validate checks one payload against the schema of its root element's namespace.
func Validate(name string, payload []byte) error {
	all, err := schemas()
	if err != nil {
		return err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(payload); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ns := doc.Root().NamespaceURI()
	s, ok := all[ns]
	if !ok {
		return fmt.Errorf("%s: no snodo contract for namespace %q", name, ns)
	}
	return s.Validate(name, payload, 20)
}

// MustValidEnvelope splits a plain envelope and validates its body and headers, failing
// the test otherwise; it returns the parts.
func MustValidEnvelope(t testing.TB, name string, envelope []byte) Parts {
	t.Helper()
	p, err := Split(envelope)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, envelope)
	}
	if err := Validate(name+" (body)", p.Body); err != nil {
		t.Fatalf("%s: the payload breaks the contract: %v\n%s", name, err, p.Body)
	}
	for i, h := range p.Headers {
		if err := Validate(fmt.Sprintf("%s (header %d)", name, i+1), h); err != nil {
			t.Fatalf("%s: header breaks the contract: %v\n%s", name, err, h)
		}
	}
	return p
}

// IsMTOM tells an MTOM package from a plain envelope by its first bytes.
func IsMTOM(body []byte) bool {
	return !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))
}

// FaultDetail returns the element inside the detail of a SOAP 1.1 fault (or Detail of a
// SOAP 1.2 one), as a standalone document.
func FaultDetail(envelope []byte) ([]byte, error) {
	p, err := Split(envelope)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(p.Body); err != nil {
		return nil, err
	}
	root := doc.Root()
	if root.Tag != "Fault" {
		return nil, fmt.Errorf("contracttest: the body is <%s>, not a fault", root.Tag)
	}
	ctx, err := etreeutils.NSBuildParentContext(root)
	if err != nil {
		return nil, err
	}
	if ctx, err = ctx.SubContext(root); err != nil {
		return nil, err
	}
	for _, el := range root.ChildElements() {
		if el.Tag != "detail" && el.Tag != "Detail" {
			continue
		}
		dctx, err := ctx.SubContext(el)
		if err != nil {
			return nil, err
		}
		kids := el.ChildElements()
		if len(kids) != 1 {
			return nil, fmt.Errorf("contracttest: %d elements in the fault detail, want 1", len(kids))
		}
		det, err := etreeutils.NSDetatch(dctx, kids[0])
		if err != nil {
			return nil, err
		}
		d := etree.NewDocument()
		d.SetRoot(det)
		return d.WriteToBytes()
	}
	return nil, fmt.Errorf("contracttest: the fault has no detail")
}
