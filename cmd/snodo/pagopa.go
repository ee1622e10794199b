package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"snodo/pkg/hub"
	"snodo/pkg/pagopa/csvload"
	"snodo/pkg/pagopa/csvparse"
	"snodo/pkg/pagopa/nodesim"
	"snodo/pkg/pagopa/pagopaconf"
	"snodo/pkg/pagopa/pagopamod"
	"snodo/pkg/pagopa/posdb"
)

func init() {
	register(command{name: "pagopa-sim pay",
		usage:   "--hub URL --pa CF --broker ID --station ID --notice N [--v1] [--duplicate] [--skip-verify] [--json]",
		summary: "simula il Nodo pagoPA: paga un avviso tramite l'hub (simulate the pagoPA Node: pay a notice through the hub)",
		run:     func(ctx context.Context, env *cliEnv, args []string) int { return runPagoPASim(ctx, env, args, true) }})
	register(command{name: "pagopa-sim verify",
		usage:   "--hub URL --pa CF --broker ID --station ID --notice N [--json]",
		summary: "simula il Nodo pagoPA: verifica un avviso (simulate the pagoPA Node: verify a notice)",
		run:     func(ctx context.Context, env *cliEnv, args []string) int { return runPagoPASim(ctx, env, args, false) }})
}

func runPagoPASim(ctx context.Context, env *cliEnv, args []string, pay bool) int {
	name := "pagopa-sim verify"
	if pay {
		name = "pagopa-sim pay"
	}
	fl := flag.NewFlagSet("snodo "+name, flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	var cfg nodesim.Config
	var pa, notice, receiptID, caFile, certFile, keyFile string
	var v1, duplicate, skipVerify, asJSON, insecure bool
	fl.StringVar(&cfg.HubURL, "hub", "", "URL del servizio paForNode dell'hub, es. https://hub:8443/pagopa/paForNode (the hub's paForNode URL)")
	fl.StringVar(&pa, "pa", "", "codice fiscale dell'ente creditore, idPA (creditor fiscal code)")
	fl.StringVar(&cfg.IDBrokerPA, "broker", "", "idBrokerPA dell'intermediario (broker id)")
	fl.StringVar(&cfg.IDStation, "station", "", "idStation della stazione (station id)")
	fl.StringVar(&notice, "notice", "", "numero avviso di 18 cifre (18-digit notice number)")
	fl.BoolVar(&v1, "v1", false, "usa paGetPayment/paSendRT invece delle V2 (use V1 primitives)")
	fl.BoolVar(&duplicate, "duplicate", false, "invia la ricevuta una seconda volta (send the receipt twice)")
	fl.BoolVar(&skipVerify, "skip-verify", false, "salta paVerifyPaymentNotice (skip the verify)")
	fl.StringVar(&receiptID, "receipt-id", "", "receiptId (token di pagamento) da usare; casuale se vuoto (payment token; random when empty)")
	fl.IntVar(&cfg.SendRTAttempts, "attempts", 5, "tentativi di invio della ricevuta (receipt send attempts)")
	fl.DurationVar(&cfg.RetryBackoff, "backoff", 2*time.Second, "attesa prima del primo nuovo tentativo, poi raddoppiata (first retry pause, doubled)")
	fl.DurationVar(&cfg.VerifyTimeout, "timeout-verify", 7*time.Second, "timeout del Nodo su paVerifyPaymentNotice")
	fl.DurationVar(&cfg.GetPaymentTimeout, "timeout-get", 7*time.Second, "timeout del Nodo su paGetPayment")
	fl.DurationVar(&cfg.SendRTTimeout, "timeout-rt", 15*time.Second, "timeout del Nodo su paSendRT")
	fl.StringVar(&caFile, "cacert", "", "CA (PEM) con cui verificare il certificato dell'hub (CA to verify the hub)")
	fl.StringVar(&certFile, "cert", "", "certificato client (PEM) presentato all'hub (client certificate)")
	fl.StringVar(&keyFile, "key", "", "chiave del certificato client (PEM) (client key)")
	fl.BoolVar(&insecure, "insecure", false, "non verificare il certificato dell'hub: solo per prove locali (skip TLS verification: local tests only)")
	fl.BoolVar(&asJSON, "json", false, "stampa il risultato in JSON (print JSON)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if cfg.HubURL == "" || pa == "" || cfg.IDBrokerPA == "" || cfg.IDStation == "" || notice == "" || fl.NArg() > 0 {
		fmt.Fprintf(env.stderr, "uso: snodo %s --hub URL --pa CF --broker ID --station ID --notice N\n"+
			"(--hub, --pa, --broker, --station e --notice sono obbligatori; `snodo %s -h` per le opzioni)\n", name, name)
		return 2
	}
	cfg.Version = 2
	if v1 {
		cfg.Version = 1
	}
	hc, err := simHTTPClient(caFile, certFile, keyFile, insecure)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 2
	}
	cfg.HTTP = hc
	sim, err := nodesim.New(cfg)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 2
	}
	if !pay {
		v, st := sim.Verify(ctx, pa, notice)
		if asJSON {
			json.NewEncoder(env.stdout).Encode(map[string]any{"step": st, "response": v})
		} else {
			fmt.Fprintln(env.stdout, st.String())
			if st.Outcome == "OK" {
				o := v.PaymentList.Options[0]
				fmt.Fprintf(env.stdout, "importo %s, scadenza %s, %s — %s\n", o.Amount, o.DueDate, v.CompanyName, v.PaymentDescription)
			}
		}
		if st.Outcome != "OK" {
			return 1
		}
		return 0
	}
	p := sim.Pay(ctx, pa, notice, nodesim.PayOptions{SkipVerify: skipVerify, Duplicate: duplicate, ReceiptID: receiptID})
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(p)
	} else {
		fmt.Fprint(env.stdout, p.Summary())
	}
	if !p.ReceiptAcknowledged || p.Fault != "" {
		return 1
	}
	return 0
}

// simHTTPClient builds the simulator's transport: the hub's CA, a client certificate for
// mutual TLS (the hub requires one on /pagopa/ when it has a client CA).
func simHTTPClient(caFile, certFile, keyFile string, insecure bool) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("lettura CA %s (reading the CA): %w", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: nessun certificato PEM (no PEM certificate)", caFile)
		}
		tc.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--cert e --key vanno indicati insieme (--cert and --key go together)")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certificato client %s (client certificate): %w", certFile, err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

func init() {
	register(command{name: "positions load",
		usage:   "[--config FILE] --ente ID [--out FILE] [--format govpay|mypay] FILE.csv",
		summary: "carica un file CSV di posizioni debitorie per un ente (load a debt-position CSV file for an ente)",
		run:     runPositionsLoad})
}

// runPositionsLoad streams a positions file into the store and writes its outcome file.
// Exit status: 0 every row loaded, 1 some rows refused or the file unusable, 2 usage or
// configuration.
func runPositionsLoad(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "positions load")
	var enteID, outPath, format, stampCategory string
	fl.StringVar(&enteID, "ente", "", "ente: id della route o codice fiscale (route id or fiscal code)")
	fl.StringVar(&outPath, "out", "", "file di esito; predefinito FILE.esito.csv, - per lo standard output (outcome file)")
	fl.StringVar(&format, "format", "", "tracciato: govpay o mypay; predefinito: riconosciuto dall'intestazione (layout)")
	fl.StringVar(&stampCategory, "stamp-category", "", "tassonomia delle voci marca da bollo senza codiceContabilita (taxonomy of stamp lines)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if enteID == "" || fl.NArg() != 1 {
		fmt.Fprintln(env.stderr, "uso: snodo positions load [--config FILE] --ente ID [--out FILE] FILE.csv")
		return 2
	}
	cfg, routes, err := setup(env, *configPath, "")
	if err != nil {
		return printProblems(env, err)
	}
	pc, err := pagopaconf.FromRoutes(cfg, routes)
	if err != nil {
		return printProblems(env, err)
	}
	e := pc.Ente(enteID)
	for i := range pc.Enti {
		if pc.Enti[i].RouteID == enteID {
			e = &pc.Enti[i]
		}
	}
	if e == nil {
		fmt.Fprintf(env.stderr, "snodo: ente %q senza pagamenti configurati (payments.station nella route) (ente without payments)\n", enteID)
		return 2
	}
	in, err := os.Open(fl.Arg(0))
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 2
	}
	defer in.Close()
	if outPath == "" {
		outPath = strings.TrimSuffix(fl.Arg(0), ".csv") + ".esito.csv"
	}
	var out io.Writer = env.stdout
	if outPath != "-" {
		f, err := os.Create(outPath)
		if err != nil {
			fmt.Fprintln(env.stderr, "snodo:", err)
			return 2
		}
		defer f.Close()
		out = f
	}
	st, err := hub.OpenStore(ctx, cfg, []hub.Module{pagopamod.New(pagopamod.Options{})}, nil)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo: apertura dello store non riuscita (cannot open the store):", err)
		return 1
	}
	defer st.Close()
	db := posdb.New(st, posdb.Options{})
	sum, err := csvload.Load(ctx, db, e, in, out, csvload.Options{Options: csvparse.Options{Name: fl.Arg(0), Format: csvparse.Format(format), StampCategory: stampCategory}})
	if sum != nil {
		fmt.Fprintf(env.stderr, "%s: %d righe in %s: %d caricate, %d aggiornate, %d invariate, %d annullate, %d scartate; esito in %s\n",
			fl.Arg(0), sum.Rows, sum.Elapsed.Round(time.Millisecond), sum.Created, sum.Updated, sum.Unchanged, sum.Cancelled, sum.Rejected, outPath)
	}
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 1
	}
	if sum.Rejected > 0 {
		return 1
	}
	return 0
}
