package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // digest algorithms of XML signatures
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"

	"snodo/pkg/signature/c14n"
	"snodo/pkg/xmlsafe"
)

// Namespaces and algorithm identifiers of XML Signature and XAdES.
const (
	nsDSig     = "http://www.w3.org/2000/09/xmldsig#"
	nsDSigMore = "http://www.w3.org/2001/04/xmldsig-more#"
	nsXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
	nsXAdES132 = "http://uri.etsi.org/01903/v1.3.2#"
	nsXAdES141 = "http://uri.etsi.org/01903/v1.4.1#"
	nsFilter2  = "http://www.w3.org/2002/06/xmldsig-filter2"
	nsExcC14N  = "http://www.w3.org/2001/10/xml-exc-c14n#"

	algEnveloped = nsDSig + "enveloped-signature"
	algXPath     = "http://www.w3.org/TR/1999/REC-xpath-19991116"
	algFilter2   = nsFilter2

	typeSignedProperties = "http://uri.etsi.org/01903#SignedProperties"
)

type sigMethod struct {
	key  x509.PublicKeyAlgorithm
	hash crypto.Hash
}

var signatureMethods = map[string]sigMethod{
	nsDSig + "rsa-sha1":         {x509.RSA, crypto.SHA1},
	nsDSigMore + "rsa-sha224":   {x509.RSA, crypto.SHA224},
	nsDSigMore + "rsa-sha256":   {x509.RSA, crypto.SHA256},
	nsDSigMore + "rsa-sha384":   {x509.RSA, crypto.SHA384},
	nsDSigMore + "rsa-sha512":   {x509.RSA, crypto.SHA512},
	nsDSigMore + "ecdsa-sha1":   {x509.ECDSA, crypto.SHA1},
	nsDSigMore + "ecdsa-sha224": {x509.ECDSA, crypto.SHA224},
	nsDSigMore + "ecdsa-sha256": {x509.ECDSA, crypto.SHA256},
	nsDSigMore + "ecdsa-sha384": {x509.ECDSA, crypto.SHA384},
	nsDSigMore + "ecdsa-sha512": {x509.ECDSA, crypto.SHA512},
}

var digestMethods = map[string]crypto.Hash{
	nsDSig + "sha1":       crypto.SHA1,
	nsDSigMore + "sha224": crypto.SHA224,
	nsXMLEnc + "sha256":   crypto.SHA256,
	nsDSigMore + "sha384": crypto.SHA384,
	nsXMLEnc + "sha512":   crypto.SHA512,
}

// Bounds on what one file may ask the verifier to do: each Reference canonicalizes up to
// the whole document, each certificate is parsed and tried.
const (
	maxSignatures   = 16
	maxReferences   = 32
	maxCertificates = 32
)

// xmlDoc is a parsed document with what every signature in it needs.
type xmlDoc struct {
	name       string
	doc        *etree.Document
	signatures map[*etree.Element]bool // every ds:Signature element, nested ones included
	top        []*etree.Element        // ds:Signature elements not inside another one
	ids        map[string]*etree.Element
	dupIDs     map[string]bool
}

func (v *Verifier) verifyXML(name string, data []byte) (*Result, error) {
	if err := xmlsafe.Check(name, data, v.maxSize()); err != nil {
		return nil, fail(name, ErrMalformed, err, "XML rifiutato (XML refused)")
	}
	if !hasSignatureTag(data) {
		// No Signature tag anywhere: certainly unsigned, no need to parse here.
		return &Result{Format: FormatPlain, Content: data}, nil
	}
	doc, err := c14n.Parse(data)
	if err != nil {
		return nil, fail(name, ErrMalformed, err, "XML non ben formato: correggere il file (XML not well-formed: fix the file)")
	}
	x := &xmlDoc{name: name, doc: doc, signatures: map[*etree.Element]bool{}, ids: map[string]*etree.Element{}, dupIDs: map[string]bool{}}
	x.index(doc.Root(), false)
	if len(x.top) == 0 {
		return &Result{Format: FormatPlain, Content: data}, nil
	}
	if len(x.top) > maxSignatures {
		return nil, fail(name, ErrUnsupported, nil, "%d firme nello stesso documento, al massimo %d (%d signatures in one document, at most %d)",
			len(x.top), maxSignatures, len(x.top), maxSignatures)
	}
	res := &Result{Format: FormatXAdES, Content: data}
	for _, sig := range x.top {
		s, err := v.verifySignatureElement(x, sig)
		if err != nil {
			return nil, err
		}
		res.add(s)
	}
	return res, nil
}

// index records ds:Signature elements and Id attributes.
func (x *xmlDoc) index(el *etree.Element, inSignature bool) {
	for _, a := range el.Attr {
		if a.Space == "" && (a.Key == "Id" || a.Key == "ID" || a.Key == "id") {
			if _, dup := x.ids[a.Value]; dup {
				x.dupIDs[a.Value] = true
			}
			x.ids[a.Value] = el
		}
	}
	if el.Tag == "Signature" && namespaceOf(el) == nsDSig {
		x.signatures[el] = true
		if !inSignature {
			x.top = append(x.top, el)
		}
		inSignature = true
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			x.index(c, inSignature)
		}
	}
}

// lookupNamespace resolves prefix in the scope of el ("" for the default namespace).
func lookupNamespace(el *etree.Element, prefix string) (string, bool) {
	if prefix == "xml" {
		return "http://www.w3.org/XML/1998/namespace", true
	}
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if prefix == "" && a.Space == "" && a.Key == "xmlns" || prefix != "" && a.Space == "xmlns" && a.Key == prefix {
				return a.Value, a.Value != "" || prefix == ""
			}
		}
	}
	return "", prefix == ""
}

func namespaceOf(el *etree.Element) string {
	uri, _ := lookupNamespace(el, el.Space)
	return uri
}

func isElem(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && namespaceOf(el) == ns
}

func children(el *etree.Element, ns, local string) []*etree.Element {
	if el == nil {
		return nil
	}
	var out []*etree.Element
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && isElem(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

func child(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && isElem(c, ns, local) {
			return c
		}
	}
	return nil
}

// decodeB64 decodes base64 element text, which signers wrap and pad with whitespace
// (and Java signers with &#13;).
func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}

// reference is one checked ds:Reference.
type reference struct {
	apex     *etree.Element // nil for the whole document
	document bool           // covers the document (whole, or its root element)
	ok       bool
}

func (v *Verifier) verifySignatureElement(x *xmlDoc, sig *etree.Element) (Signature, error) {
	name := x.name
	malformed := func(what string) error {
		return fail(name, ErrMalformed, nil, "firma XML incompleta (XML signature incomplete): %s", what)
	}
	si := child(sig, nsDSig, "SignedInfo")
	if si == nil {
		return Signature{}, malformed("manca ds:SignedInfo (ds:SignedInfo missing)")
	}
	sv := child(sig, nsDSig, "SignatureValue")
	if sv == nil {
		return Signature{}, malformed("manca ds:SignatureValue (ds:SignatureValue missing)")
	}
	certs, err := keyInfoCertificates(child(sig, nsDSig, "KeyInfo"))
	if err == nil && len(certs) > maxCertificates {
		err = fmt.Errorf("%d certificates, at most %d", len(certs), maxCertificates)
	}
	if err != nil {
		return Signature{}, fail(name, ErrMalformed, err, "certificato in ds:KeyInfo non leggibile (certificate in ds:KeyInfo unreadable)")
	}
	if len(certs) == 0 {
		return Signature{}, malformed("nessun certificato X509 in ds:KeyInfo (no X509 certificate in ds:KeyInfo)")
	}
	cm := child(si, nsDSig, "CanonicalizationMethod")
	if cm == nil {
		return Signature{}, malformed("manca ds:CanonicalizationMethod (ds:CanonicalizationMethod missing)")
	}
	canon, err := canonicalization(cm)
	if err != nil {
		return Signature{}, fail(name, ErrUnsupported, err, "canonicalizzazione di ds:SignedInfo non supportata (ds:SignedInfo canonicalization not supported)")
	}
	smEl := child(si, nsDSig, "SignatureMethod")
	if smEl == nil {
		return Signature{}, malformed("manca ds:SignatureMethod (ds:SignatureMethod missing)")
	}
	sm, ok := signatureMethods[smEl.SelectAttrValue("Algorithm", "")]
	if !ok {
		alg := smEl.SelectAttrValue("Algorithm", "")
		return Signature{}, fail(name, ErrUnsupported, nil, "algoritmo di firma %q non supportato (signature algorithm %q not supported)", alg, alg)
	}

	// Every reference, checked before the signature value so that a changed document
	// is reported as such.
	refEls := children(si, nsDSig, "Reference")
	if len(refEls) == 0 {
		return Signature{}, malformed("nessun ds:Reference (no ds:Reference)")
	}
	if len(refEls) > maxReferences {
		return Signature{}, fail(name, ErrUnsupported, nil, "%d ds:Reference, al massimo %d (%d ds:Reference elements, at most %d)",
			len(refEls), maxReferences, len(refEls), maxReferences)
	}
	refs := make([]reference, len(refEls))
	for i, r := range refEls {
		if refs[i], err = x.checkReference(sig, r, i+1); err != nil {
			return Signature{}, err
		}
	}
	keyInfo := child(sig, nsDSig, "KeyInfo")
	qp := qualifyingProperties(sig)
	sp := child(qp, nsXAdES132, "SignedProperties")
	if sp == nil {
		sp = child(qp, nsXAdES141, "SignedProperties")
	}
	var covered struct{ document, signedProps, keyInfo bool }
	for i, r := range refs {
		switch {
		case r.document:
			if !r.ok {
				return Signature{}, fail(name, ErrContentAltered, nil, "documento modificato dopo la firma: l'impronta del riferimento n. %d non corrisponde "+
					"(document changed after signing: digest of reference #%d does not match)", i+1, i+1)
			}
			covered.document = true
		}
	}
	for i, r := range refs {
		switch {
		case r.document:
		case sp != nil && r.apex == sp:
			if !r.ok {
				return Signature{}, fail(name, ErrSignedProperties, nil, "proprietà firmate XAdES (SignedProperties) modificate dopo la firma "+
					"(XAdES SignedProperties changed after signing)")
			}
			covered.signedProps = true
		case keyInfo != nil && r.apex == keyInfo:
			if !r.ok {
				return Signature{}, fail(name, ErrSigningCertificate, nil, "ds:KeyInfo (certificato del firmatario) modificato dopo la firma "+
					"(ds:KeyInfo, the signer's certificate, changed after signing)")
			}
			covered.keyInfo = true
		case !r.ok:
			return Signature{}, fail(name, ErrSignatureValue, nil, "l'impronta del riferimento n. %d (%s) non corrisponde (digest of reference #%d, %s, does not match)",
				i+1, refEls[i].SelectAttrValue("URI", ""), i+1, refEls[i].SelectAttrValue("URI", ""))
		}
	}
	if !covered.document {
		return Signature{}, fail(name, ErrSignatureValue, nil, "la firma non copre il documento: nessun ds:Reference con URI=\"\" "+
			"(the signature does not cover the document: no ds:Reference with URI=\"\")")
	}
	if qp != nil && !covered.signedProps {
		return Signature{}, fail(name, ErrSignedProperties, nil, "proprietà XAdES (SignedProperties) assenti o non coperte dalla firma "+
			"(XAdES SignedProperties missing or not covered by the signature)")
	}

	// The signature value over the canonical ds:SignedInfo.
	value, err := decodeB64(sv.Text())
	if err != nil {
		return Signature{}, fail(name, ErrMalformed, err, "ds:SignatureValue non è base64 (ds:SignatureValue is not base64)")
	}
	h := sm.hash.New()
	if err := c14n.WriteElement(h, si, canon); err != nil {
		return Signature{}, fail(name, ErrMalformed, err, "ds:SignedInfo non canonicalizzabile (ds:SignedInfo cannot be canonicalized)")
	}
	digest := h.Sum(nil)
	var signer *x509.Certificate
	for _, c := range certs {
		if checkXMLSignature(c, sm, digest, value) == nil {
			signer = c
			break
		}
	}
	if signer == nil {
		return Signature{}, fail(name, ErrSignatureValue, nil, "valore di firma non valido per il certificato %s: ds:SignedInfo alterato o chiave diversa "+
			"(signature value not valid for the certificate %s: ds:SignedInfo altered or a different key)", subject(certs[0]), subject(certs[0]))
	}
	s := Signature{Signer: signer, Algorithm: keyName(signer) + "-" + hashName(sm.hash), CertificateBound: covered.keyInfo}

	// XAdES signed properties: signing time, signing certificate.
	if sp != nil {
		ssp := child(sp, nsXAdES132, "SignedSignatureProperties")
		if ssp == nil {
			ssp = child(sp, nsXAdES141, "SignedSignatureProperties")
		}
		if st := xadesChild(ssp, "SigningTime"); st != nil {
			t, err := parseDateTime(strings.TrimSpace(st.Text()))
			if err != nil {
				return Signature{}, fail(name, ErrTimeInconsistent, err, "SigningTime XAdES non leggibile: %q (XAdES SigningTime unreadable: %q)", st.Text(), st.Text())
			}
			s.SigningTime = t
		}
		for _, tag := range []string{"SigningCertificate", "SigningCertificateV2"} {
			sc := xadesChild(ssp, tag)
			if sc == nil {
				continue
			}
			if err := matchSigningCertificate(sc, signer); err != nil {
				return Signature{}, fail(name, ErrSigningCertificate, err, "%s XAdES non corrisponde al certificato del firmatario %s "+
					"(XAdES %s does not match the signer's certificate %s)", tag, subject(signer), tag, subject(signer))
			}
			s.CertificateBound = true
		}
	}

	at, err := v.checkTime(name, s.SigningTime)
	if err != nil {
		return Signature{}, err
	}
	s.CheckedAt = at
	var others []*x509.Certificate
	for _, c := range certs {
		if c != signer {
			others = append(others, c)
		}
	}
	if s.Chain, err = v.verifyChain(name, signer, others, at); err != nil {
		return Signature{}, err
	}
	return s, nil
}

// checkReference computes the digest of one ds:Reference and compares it.
func (x *xmlDoc) checkReference(sig, ref *etree.Element, n int) (reference, error) {
	name := x.name
	unsupported := func(format string, args ...any) error {
		return fail(name, ErrUnsupported, nil, "riferimento n. %d (reference #%d): %s", n, n, fmt.Sprintf(format, args...))
	}
	uriAttr := ref.SelectAttr("URI")
	if uriAttr == nil {
		return reference{}, unsupported("URI assente (no URI)")
	}
	uri := uriAttr.Value
	var r reference
	comments := false
	switch {
	case uri == "":
		r.document = true
	case uri == "#xpointer(/)":
		r.document, comments = true, true
	case strings.HasPrefix(uri, "#xpointer(id(") && strings.HasSuffix(uri, "))"):
		id := strings.Trim(uri[len("#xpointer(id("):len(uri)-2], `'"`)
		el, err := x.byID(id, n)
		if err != nil {
			return reference{}, err
		}
		r.apex, comments = el, true
	case strings.HasPrefix(uri, "#") && !strings.HasPrefix(uri, "#xpointer("):
		el, err := x.byID(uri[1:], n)
		if err != nil {
			return reference{}, err
		}
		r.apex = el
	default:
		return reference{}, unsupported("URI %q esterno o non supportato (external or unsupported URI %q)", uri, uri)
	}
	if r.apex != nil && r.apex == x.doc.Root() {
		r.document = true
	}

	// Transforms: the node-set shrinks by whole ds:Signature subtrees, then one
	// canonicalization (default Canonical XML 1.0) turns it into octets.
	var opts *c14n.Options
	excludeAll, excludeOwn := false, false
	for _, t := range children(child(ref, nsDSig, "Transforms"), nsDSig, "Transform") {
		if opts != nil {
			return reference{}, unsupported("trasformazione dopo la canonicalizzazione (transform after canonicalization)")
		}
		alg := t.SelectAttrValue("Algorithm", "")
		switch alg {
		case algEnveloped:
			excludeOwn = true
		case algFilter2:
			for _, xp := range children(t, nsFilter2, "XPath") {
				if xp.SelectAttrValue("Filter", "") != "subtract" || !selectsSignatures(xp, "/descendant::") {
					return reference{}, unsupported("XPath Filter 2.0 %s %q non supportato: solo subtract /descendant::ds:Signature "+
						"(XPath Filter 2.0 %s %q not supported: only subtract /descendant::ds:Signature)",
						xp.SelectAttrValue("Filter", ""), xp.Text(), xp.SelectAttrValue("Filter", ""), xp.Text())
				}
				excludeAll = true
			}
		case algXPath:
			xp := child(t, nsDSig, "XPath")
			if xp == nil || !selectsNotSignatures(xp) {
				expr := ""
				if xp != nil {
					expr = xp.Text()
				}
				return reference{}, unsupported("XPath %q non supportato: solo not(ancestor-or-self::ds:Signature) "+
					"(XPath %q not supported: only not(ancestor-or-self::ds:Signature))", expr, expr)
			}
			excludeAll = true
		default:
			o, err := canonicalization(t)
			if err != nil {
				return reference{}, unsupported("trasformazione %q non supportata (transform %q not supported)", alg, alg)
			}
			opts = &o
		}
	}
	o := c14n.Options{Method: c14n.C14N10}
	if opts != nil {
		o = *opts
	}
	// A same-document URI without XPointer drops comments before any transform.
	o.Comments = o.Comments && comments
	switch {
	case excludeAll:
		o.Exclude = func(e *etree.Element) bool { return x.signatures[e] }
	case excludeOwn:
		o.Exclude = func(e *etree.Element) bool { return e == sig }
	}

	dm := child(ref, nsDSig, "DigestMethod")
	if dm == nil {
		return reference{}, fail(name, ErrMalformed, nil, "riferimento n. %d senza ds:DigestMethod (reference #%d without ds:DigestMethod)", n, n)
	}
	hash, ok := digestMethods[dm.SelectAttrValue("Algorithm", "")]
	if !ok {
		alg := dm.SelectAttrValue("Algorithm", "")
		return reference{}, unsupported("algoritmo di impronta %q non supportato (digest algorithm %q not supported)", alg, alg)
	}
	dv := child(ref, nsDSig, "DigestValue")
	if dv == nil {
		return reference{}, fail(name, ErrMalformed, nil, "riferimento n. %d senza ds:DigestValue (reference #%d without ds:DigestValue)", n, n)
	}
	want, err := decodeB64(dv.Text())
	if err != nil {
		return reference{}, fail(name, ErrMalformed, err, "ds:DigestValue del riferimento n. %d non è base64 (ds:DigestValue of reference #%d is not base64)", n, n)
	}
	h := hash.New()
	if r.apex == nil {
		err = c14n.WriteDocument(h, x.doc, o)
	} else {
		err = c14n.WriteElement(h, r.apex, o)
	}
	if err != nil {
		return reference{}, fail(name, ErrMalformed, err, "riferimento n. %d non canonicalizzabile (reference #%d cannot be canonicalized)", n, n)
	}
	r.ok = subtle.ConstantTimeCompare(h.Sum(nil), want) == 1
	return r, nil
}

func (x *xmlDoc) byID(id string, n int) (*etree.Element, error) {
	if x.dupIDs[id] {
		return nil, fail(x.name, ErrMalformed, nil, "riferimento n. %d ambiguo: più elementi con Id %q (reference #%d ambiguous: several elements with Id %q)", n, id, n, id)
	}
	el, ok := x.ids[id]
	if !ok {
		return nil, fail(x.name, ErrMalformed, nil, "riferimento n. %d a un elemento inesistente: Id %q (reference #%d to a missing element: Id %q)", n, id, n, id)
	}
	return el, nil
}

// selectsSignatures reports whether the XPath element's expression is axis followed by
// a QName naming ds:Signature in the element's namespace scope.
func selectsSignatures(xp *etree.Element, axis string) bool {
	expr := strings.Join(strings.Fields(xp.Text()), "")
	qname, ok := strings.CutPrefix(expr, axis)
	return ok && namesSignature(xp, qname)
}

// selectsNotSignatures recognises the XPath 1.0 transform expression
// not(ancestor-or-self::ds:Signature).
func selectsNotSignatures(xp *etree.Element) bool {
	expr := strings.Join(strings.Fields(xp.Text()), "")
	inner, ok := strings.CutPrefix(expr, "not(ancestor-or-self::")
	if !ok || !strings.HasSuffix(inner, ")") {
		return false
	}
	return namesSignature(xp, strings.TrimSuffix(inner, ")"))
}

func namesSignature(scope *etree.Element, qname string) bool {
	prefix, local, ok := strings.Cut(qname, ":")
	if !ok || local != "Signature" || prefix == "" {
		return false // XPath 1.0: an unprefixed name is in no namespace
	}
	uri, ok := lookupNamespace(scope, prefix)
	return ok && uri == nsDSig
}

// canonicalization reads a CanonicalizationMethod or Transform element naming a
// canonicalization algorithm, with the exclusive InclusiveNamespaces PrefixList.
func canonicalization(el *etree.Element) (c14n.Options, error) {
	alg := el.SelectAttrValue("Algorithm", "")
	o, ok := c14n.ForAlgorithm(alg)
	if !ok {
		return o, fmt.Errorf("algorithm %q", alg)
	}
	if o.Method == c14n.Exclusive {
		if in := child(el, nsExcC14N, "InclusiveNamespaces"); in != nil {
			o.InclusivePrefixes = strings.Fields(in.SelectAttrValue("PrefixList", ""))
		}
	}
	return o, nil
}

func keyInfoCertificates(ki *etree.Element) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, xd := range children(ki, nsDSig, "X509Data") {
		for _, xc := range children(xd, nsDSig, "X509Certificate") {
			der, err := decodeB64(xc.Text())
			if err != nil {
				return nil, err
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			certs = append(certs, c)
		}
	}
	return certs, nil
}

func qualifyingProperties(sig *etree.Element) *etree.Element {
	for _, obj := range children(sig, nsDSig, "Object") {
		if qp := child(obj, nsXAdES132, "QualifyingProperties"); qp != nil {
			return qp
		}
		if qp := child(obj, nsXAdES141, "QualifyingProperties"); qp != nil {
			return qp
		}
	}
	return nil
}

func xadesChild(el *etree.Element, local string) *etree.Element {
	if c := child(el, nsXAdES132, local); c != nil {
		return c
	}
	return child(el, nsXAdES141, local)
}

// matchSigningCertificate checks that one xades:Cert of a SigningCertificate(V2) element
// carries the digest of signer.
func matchSigningCertificate(sc *etree.Element, signer *x509.Certificate) error {
	certs := children(sc, nsXAdES132, "Cert")
	certs = append(certs, children(sc, nsXAdES141, "Cert")...)
	if len(certs) == 0 {
		return errors.New("no xades:Cert")
	}
	for _, c := range certs {
		cd := xadesChild(c, "CertDigest")
		dm, dv := child(cd, nsDSig, "DigestMethod"), child(cd, nsDSig, "DigestValue")
		if dm == nil || dv == nil {
			return errors.New("xades:CertDigest incomplete")
		}
		h, ok := digestMethods[dm.SelectAttrValue("Algorithm", "")]
		if !ok {
			return fmt.Errorf("CertDigest algorithm %q not supported", dm.SelectAttrValue("Algorithm", ""))
		}
		want, err := decodeB64(dv.Text())
		if err != nil {
			return fmt.Errorf("CertDigest value: %w", err)
		}
		d := h.New()
		d.Write(signer.Raw)
		if subtle.ConstantTimeCompare(d.Sum(nil), want) == 1 {
			return nil
		}
	}
	return errors.New("no xades:Cert digest matches")
}

// parseDateTime reads an xs:dateTime; one without a time zone is taken as UTC.
func parseDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

// checkXMLSignature verifies an XML Signature value (RSA PKCS#1 v1.5, or ECDSA as the
// raw r||s concatenation XML Signature prescribes) over digest.
func checkXMLSignature(c *x509.Certificate, sm sigMethod, digest, value []byte) error {
	switch pub := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if sm.key != x509.RSA {
			return errors.New("key type does not match the signature method")
		}
		return rsa.VerifyPKCS1v15(pub, sm.hash, digest, value)
	case *ecdsa.PublicKey:
		if sm.key != x509.ECDSA || len(value) == 0 || len(value)%2 != 0 {
			return errors.New("key type does not match the signature method")
		}
		half := len(value) / 2
		r, s := new(big.Int).SetBytes(value[:half]), new(big.Int).SetBytes(value[half:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return errors.New("ecdsa: verification error")
		}
		return nil
	}
	return fmt.Errorf("public key %T not supported", c.PublicKey)
}
