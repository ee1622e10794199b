package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"snodo/pkg/route"
)

// Authentication failures. Their text is what the caller reads: it never says which
// part of a credential was wrong.
var (
	errNoCredentials  = errors.New("credenziali mancanti: usare un token (Authorization: Bearer), HTTP Basic o un certificato client (no credentials)")
	errBadCredentials = errors.New("credenziali non valide (invalid credentials)")
	errConflict       = errors.New("credenziali di enti diversi nella stessa richiesta (credentials of different enti in one request)")
)

// credential is one secret of one ente, kept as a SHA-256 digest: comparing digests in
// constant time reveals nothing about the secret's bytes.
type credential struct {
	digest [32]byte
	ente   *route.Ente
}

// authenticator maps the credentials of every ente's route to the ente.
type authenticator struct {
	tokens []credential
	basic  map[string]credential  // username → password digest
	certs  map[string]*route.Ente // lower-case hex SHA-256 fingerprint, or "cn:" + CN
}

func newAuthenticator(rs *route.Routes) (*authenticator, error) {
	a := &authenticator{basic: map[string]credential{}, certs: map[string]*route.Ente{}}
	seenToken := map[[32]byte]string{}
	for _, e := range rs.Enti {
		for _, t := range e.Auth.Tokens {
			if t.Value == "" {
				continue
			}
			d := sha256.Sum256([]byte(t.Value))
			if prev, dup := seenToken[d]; dup && prev != e.ID() {
				return nil, fmt.Errorf("api: lo stesso token è di %s e di %s: ogni ente ha i suoi (a token is shared by two enti)", prev, e.ID())
			}
			seenToken[d] = e.ID()
			a.tokens = append(a.tokens, credential{digest: d, ente: e})
		}
		if u := e.Auth.Username; u != "" {
			if prev, dup := a.basic[u]; dup {
				return nil, fmt.Errorf("api: username %q usato da %s e da %s (a username is shared by two enti)", u, prev.ente.ID(), e.ID())
			}
			if e.Auth.Password.Value == "" {
				return nil, fmt.Errorf("api: ente %s: auth.username senza auth.password (username without password)", e.ID())
			}
			a.basic[u] = credential{digest: sha256.Sum256([]byte(e.Auth.Password.Value)), ente: e}
		}
		for _, c := range e.Auth.ClientCerts {
			key := certKey(c)
			if key == "" {
				return nil, fmt.Errorf("api: ente %s: auth.client_certs %q: usare l'impronta SHA-256 in esadecimale o il CN del certificato (bad certificate reference)", e.ID(), c)
			}
			if prev, dup := a.certs[key]; dup && prev != e {
				return nil, fmt.Errorf("api: il certificato %q è indicato per %s e per %s (a certificate belongs to one ente)", c, prev.ID(), e.ID())
			}
			a.certs[key] = e
		}
	}
	return a, nil
}

// certKey normalises a client_certs entry: a SHA-256 fingerprint (hex, colons and case
// ignored) or a subject common name.
func certKey(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	hexs := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(hexs) == 64 {
		if _, err := hex.DecodeString(hexs); err == nil {
			return hexs
		}
	}
	return "cn:" + s
}

func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// identify returns the ente a request authenticates as, and how. Every credential the
// request presents must be valid and name the same ente. A verified client certificate
// that names no ente is not a credential for the API (the same listener serves the SdI
// and the pagoPA Node, whose certificates come from the same CAs).
func (a *authenticator) identify(r *http.Request) (*route.Ente, string, error) {
	var ente *route.Ente
	var how []string
	add := func(e *route.Ente, method string) error {
		if ente != nil && ente != e {
			return errConflict
		}
		ente = e
		how = append(how, method)
		return nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		e, ok := a.certs[certFingerprint(leaf)]
		if !ok {
			e, ok = a.certs["cn:"+leaf.Subject.CommonName]
		}
		if ok {
			if err := add(e, "certificato"); err != nil {
				return nil, "", err
			}
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, _ := strings.Cut(strings.TrimSpace(h), " ")
		value = strings.TrimSpace(value)
		switch strings.ToLower(scheme) {
		case "bearer":
			e := a.token(value)
			if e == nil {
				return nil, "", errBadCredentials
			}
			if err := add(e, "token"); err != nil {
				return nil, "", err
			}
		case "basic":
			e := a.basicAuth(value)
			if e == nil {
				return nil, "", errBadCredentials
			}
			if err := add(e, "basic"); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", fmt.Errorf("schema di autorizzazione %q non supportato: usare Bearer o Basic (unsupported authorization scheme)", clip(scheme, 20))
		}
	}
	if ente == nil {
		return nil, "", errNoCredentials
	}
	return ente, strings.Join(how, "+"), nil
}

// token finds the ente of a bearer token, comparing the digest with every token's in
// constant time.
func (a *authenticator) token(t string) *route.Ente {
	if t == "" {
		return nil
	}
	d := sha256.Sum256([]byte(t))
	var found *route.Ente
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:]) == 1 {
			found = a.tokens[i].ente
		}
	}
	return found
}

// basicAuth checks "Basic base64(user:password)".
func (a *authenticator) basicAuth(v string) *route.Ente {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil
	}
	c, known := a.basic[user]
	d := sha256.Sum256([]byte(pass))
	// Compare even for an unknown user, so the time does not tell users apart.
	match := subtle.ConstantTimeCompare(d[:], c.digest[:]) == 1
	if !known || !match {
		return nil
	}
	return c.ente
}

// limiter slows down clients that keep failing authentication: after MaxFailures within
// Window, the address is refused for Window.
type limiter struct {
	mu          sync.Mutex
	byIP        map[string]*failures
	maxFailures int
	window      time.Duration
	now         func() time.Time
}

type failures struct {
	n            int
	first        time.Time
	blockedUntil time.Time
}

const maxTracked = 10000

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{byIP: map[string]*failures{}, maxFailures: max, window: window, now: now}
}

// blocked reports whether ip is refused now, and until when.
func (l *limiter) blocked(ip string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.byIP[ip]
	if !ok {
		return time.Time{}, false
	}
	now := l.now()
	if now.Before(f.blockedUntil) {
		return f.blockedUntil, true
	}
	return time.Time{}, false
}

// fail records a failure; it returns true when ip just got blocked.
func (l *limiter) fail(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.byIP[ip]
	if !ok || now.Sub(f.first) > l.window && now.After(f.blockedUntil) {
		if len(l.byIP) >= maxTracked {
			l.prune(now)
		}
		f = &failures{first: now}
		l.byIP[ip] = f
	}
	f.n++
	if f.n >= l.maxFailures && !now.Before(f.blockedUntil) {
		f.blockedUntil = now.Add(l.window)
		f.n, f.first = 0, now
		return true
	}
	return false
}

// prune drops stale entries; when every entry is live it drops them all rather than
// grow without bound (an attacker spreading over many addresses loses nothing by it).
func (l *limiter) prune(now time.Time) {
	for ip, f := range l.byIP {
		if now.Sub(f.first) > l.window && !now.Before(f.blockedUntil) {
			delete(l.byIP, ip)
		}
	}
	if len(l.byIP) >= maxTracked {
		l.byIP = map[string]*failures{}
	}
}

// clientIP is the address failures are counted against: the peer, or the client a
// trusted proxy names in X-Forwarded-For.
func clientIP(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !isTrusted(host, trusted) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if !isTrusted(h, trusted) {
			return h
		}
		host = h
	}
	return host
}

func isTrusted(ip string, nets []*net.IPNet) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(p) {
			return true
		}
	}
	return false
}

// parseProxies reads addresses and CIDRs.
func parseProxies(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil {
				bits := 32
				if ip.To4() == nil {
					bits = 128
				}
				out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
				continue
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("api: proxy fidato %q non valido: usare un indirizzo IP o un CIDR (bad trusted proxy)", s)
		}
		out = append(out, n)
	}
	return out, nil
}
