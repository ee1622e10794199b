package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"snodo/pkg/sdi/sim"
	"snodo/pkg/signature"
	"snodo/pkg/tlsconf"
)

func init() {
	register(command{name: "sdi-sim",
		usage:   "[--listen ADDR] [--plain | --cert F --key F --client-ca F] [--trasmissione URL] [--ricezione URL] [--control ADDR] [--rule CODICE=SCENARIO]...",
		summary: "simulatore dell'SdI (SDICoop) per prove e integrazioni (SdI simulator for tests and integrators)",
		run:     runSdISim})
}

// ruleFlags collects repeated --rule CODICE=SCENARIO flags.
type ruleFlags map[string]sim.Scenario

func (r ruleFlags) String() string { return fmt.Sprint(map[string]sim.Scenario(r)) }

func (r ruleFlags) Set(v string) error {
	code, sc, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(code) == "" {
		return fmt.Errorf("atteso CODICE=SCENARIO, es. ZZZZZZ=consegna-dt (expected CODE=SCENARIO)")
	}
	s, err := sim.ParseScenario(sc)
	if err != nil {
		return err
	}
	r[strings.TrimSpace(code)] = s
	return nil
}

const sdiSimHelp = `
Il simulatore espone SdIRiceviFile e SdIRiceviNotifica come l'SdI, chiama il
TrasmissioneFatture (--trasmissione) e il RicezioneFatture (--ricezione) dell'hub, e
sceglie lo scenario di ogni fattura dal CodiceDestinatario (--rule, --default).
L'API di controllo (--control, HTTP in chiaro: tenerla su 127.0.0.1) consegna fatture
all'hub, forza la decorrenza termini, simula disservizi ed elenca gli eventi: GET / per
l'elenco. Una cartella di deposito (--drop) consegna all'hub ogni fattura copiata lì.

Esempio locale, tutto in chiaro su 127.0.0.1 (local example, plain HTTP):
  snodo sdi-sim --plain --listen 127.0.0.1:8081 \
    --trasmissione http://127.0.0.1:8080/sdi/TrasmissioneFatture \
    --ricezione http://127.0.0.1:8080/sdi/RicezioneFatture
  curl --data-binary @IT01234567890_FPA01.xml \
    'http://127.0.0.1:8091/fatture?NomeFile=IT01234567890_FPA01.xml'
`

func runSdISim(ctx context.Context, env *cliEnv, args []string) int {
	fl := flag.NewFlagSet("snodo sdi-sim", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	fl.Usage = func() {
		fmt.Fprintln(env.stderr, "Uso: snodo sdi-sim [opzioni]")
		fl.PrintDefaults()
		fmt.Fprint(env.stderr, sdiSimHelp)
	}
	var (
		listen, control, state, drop      string
		srv                               tlsconf.Server
		plain, inline                     bool
		cli                               tlsconf.Client
		insecure                          bool
		signCert, signKey, defaultScen    string
		allowed                           string
		timing                            sim.Timing
		firstID                           int64
		trasmissione, ricezione, logLevel string
		clientTimeout                     time.Duration
		checkTaxIDs                       bool
	)
	rules := ruleFlags{}
	fl.StringVar(&listen, "listen", "127.0.0.1:8443", "indirizzo dei servizi SdI (address of the SdI services)")
	fl.BoolVar(&plain, "plain", false, "HTTP in chiaro, senza TLS: solo per uso locale (plain HTTP, local use only)")
	fl.StringVar(&srv.CertFile, "cert", "", "certificato server PEM del simulatore (server certificate)")
	fl.StringVar(&srv.KeyFile, "key", "", "chiave del certificato server (server key)")
	fl.StringVar(&srv.ClientCA, "client-ca", "", "CA (file o cartella) dei certificati client ammessi: attiva mTLS (client CAs: enables mTLS)")
	fl.StringVar(&control, "control", "127.0.0.1:8091", "indirizzo dell'API di controllo, HTTP in chiaro; vuoto per disattivarla (control API address)")
	fl.StringVar(&trasmissione, "trasmissione", "", "URL del TrasmissioneFatture dell'hub (the hub's TrasmissioneFatture URL)")
	fl.StringVar(&ricezione, "ricezione", "", "URL del RicezioneFatture dell'hub (the hub's RicezioneFatture URL)")
	fl.StringVar(&cli.CertFile, "client-cert", "", "certificato client PEM presentato all'hub (client certificate towards the hub)")
	fl.StringVar(&cli.KeyFile, "client-key", "", "chiave del certificato client (client key)")
	fl.StringVar(&cli.RootCA, "root-ca", "", "CA (file o cartella) del certificato server dell'hub; vuoto: CA di sistema (the hub's CA)")
	fl.BoolVar(&insecure, "insecure", false, "non verificare il certificato dell'hub: solo prove locali (skip verification of the hub: local tests only)")
	fl.DurationVar(&clientTimeout, "timeout", 30*time.Second, "timeout di ogni chiamata all'hub (timeout of each call to the hub)")
	fl.BoolVar(&inline, "inline", false, "invia i file in base64 nel messaggio invece di MTOM (inline base64 instead of MTOM)")
	fl.StringVar(&state, "state", "", "cartella dello stato (contatore IdentificativoSdI, nomi ricevuti); vuoto: in memoria (state folder)")
	fl.Int64Var(&firstID, "first-id", 0, "primo IdentificativoSdI (default 5000000001) (first IdentificativoSdI)")
	fl.StringVar(&drop, "drop", "", "cartella di deposito: le fatture copiate qui sono consegnate all'hub (drop folder)")
	fl.Var(rules, "rule", "regola CODICE=SCENARIO, ripetibile (rule CODE=SCENARIO, repeatable)")
	fl.StringVar(&defaultScen, "default", string(sim.ConsegnaEC01), "scenario dei codici senza regola (scenario of codes without a rule)")
	fl.BoolVar(&checkTaxIDs, "check-taxids", false, "controlla le cifre di controllo di partite IVA e codici fiscali (00300-00306) (check tax id check digits)")
	fl.StringVar(&allowed, "allowed-transmitters", "", "CN dei certificati client ammessi a RiceviFile, separati da virgola; altri: EI03 (allowed client CNs)")
	fl.DurationVar(&timing.Notify, "notify", time.Second, "attesa prima di RC/NS/MC (delay before RC/NS/MC)")
	fl.DurationVar(&timing.EC, "ec", 2*time.Second, "attesa dell'esito del committente simulato (delay of the simulated buyer's outcome)")
	fl.DurationVar(&timing.AT, "at", 5*time.Second, "attesa tra MC e AT, invece di 10 giorni (MC → AT, instead of 10 days)")
	fl.DurationVar(&timing.DT, "dt", 30*time.Second, "decorrenza termini dopo, invece di 15 giorni (DT after, instead of 15 days)")
	fl.StringVar(&signCert, "sign-cert", "", "certificato PEM per firmare (XAdES) le notifiche; vuoto: non firmate (signing certificate)")
	fl.StringVar(&signKey, "sign-key", "", "chiave del certificato di firma (signing key)")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn, error")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.stderr, "snodo sdi-sim: argomenti inattesi %q (unexpected arguments)\n", fl.Args())
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "snodo sdi-sim: "+format+"\n", a...)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return usage("--log-level %q: %v", logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	sc, err := sim.ParseScenario(defaultScen)
	if err != nil {
		return usage("--default: %v", err)
	}
	if !plain && srv.CertFile == "" {
		return usage("indicare --cert e --key (e --client-ca per mTLS), oppure --plain per HTTP in chiaro solo in locale (give --cert and --key, or --plain for local plain HTTP)")
	}
	if plain && !tlsconf.Loopback(listen) {
		logger.Warn("sdi-sim: HTTP in chiaro su un indirizzo non locale (plain HTTP on a non-loopback address)", "listen", listen)
	}
	ccfg, err := cli.Config()
	if err != nil {
		return usage("%v", err)
	}
	ccfg.InsecureSkipVerify = insecure
	cfg := sim.Config{
		Logger: logger, StateDir: state, FirstID: firstID, TrasmissioneURL: trasmissione, RicezioneURL: ricezione,
		HTTP: tlsconf.HTTPClient(ccfg, clientTimeout), Inline: inline, CheckTaxIDs: checkTaxIDs, Rules: rules, Default: sc, Timing: timing, DropDir: drop,
	}
	if allowed != "" {
		for _, cn := range strings.Split(allowed, ",") {
			cfg.AllowedTransmitters = append(cfg.AllowedTransmitters, strings.TrimSpace(cn))
		}
	}
	if (signCert == "") != (signKey == "") {
		return usage("--sign-cert e --sign-key vanno indicati insieme (go together)")
	}
	if signCert != "" {
		signer, err := signature.LoadSigner(signCert, signKey)
		if err != nil {
			return usage("%v", err)
		}
		cfg.Signer = signer
	}
	s, err := sim.New(cfg)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo sdi-sim:", err)
		return 2
	}
	defer s.Close()

	ln, err := (tlsconf.Listener{Addr: listen, Plain: plain, TLS: srv}).Listen()
	if err != nil {
		return usage("%v", err)
	}
	scheme := "https"
	if plain {
		scheme = "http"
	}
	base := scheme + "://" + ln.Addr().String()
	servers := []*http.Server{{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}}
	listeners := []net.Listener{ln}
	fmt.Fprintf(env.stdout, "SdIRiceviFile:     %s/SdIRiceviFile\nSdIRiceviNotifica: %s/SdIRiceviNotifica\n", base, base)
	if control != "" {
		if !tlsconf.Loopback(control) {
			logger.Warn("sdi-sim: API di controllo su un indirizzo non locale, senza autenticazione (control API on a non-loopback address, unauthenticated)", "control", control)
		}
		cln, err := net.Listen("tcp", control)
		if err != nil {
			ln.Close()
			return usage("--control %s: %v", control, err)
		}
		listeners = append(listeners, cln)
		servers = append(servers, &http.Server{Handler: s.ControlHandler(), ReadHeaderTimeout: 10 * time.Second})
		fmt.Fprintf(env.stdout, "Controllo:         http://%s/\n", cln.Addr())
	}
	fmt.Fprintf(env.stdout, "Scenari per CodiceDestinatario:\n%s", sim.RulesHelp(mergedRules(rules), sc))

	if err := s.Start(ctx); err != nil {
		for _, l := range listeners {
			l.Close()
		}
		fmt.Fprintln(env.stderr, "snodo sdi-sim:", err)
		return 1
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(env.stderr, "snodo sdi-sim:", err)
			return 1
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, hs := range servers {
		hs.Shutdown(shut)
	}
	return 0
}

func mergedRules(extra map[string]sim.Scenario) map[string]sim.Scenario {
	out := map[string]sim.Scenario{}
	for c, s := range sim.DefaultRules {
		out[c] = s
	}
	for c, s := range extra {
		out[c] = s
	}
	return out
}
