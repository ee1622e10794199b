package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
)

func init() {
	register(command{name: "routes dry-run", usage: "[--config FILE] --ente ID [--codice UFFICIO] [--id IDENTIFICATIVO] FILE",
		summary: "prova a secco di una fattura passiva: controlli, consegne ed EC02 che l'hub farebbe, senza inviare nulla (passive invoice dry run: what the hub would do)",
		run:     runRoutesDryRun})
}

// runRoutesDryRun runs every check of the passive cycle on an invoice file and prints
// what the hub would do with it for an ente: the phases, channels, targets and files,
// the EC02 it would send. Nothing is stored or sent. Exit status 1 when the hub would
// refuse the invoice (EC02) or could not route it.
func runRoutesDryRun(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "routes dry-run")
	enteID := fl.String("ente", "", "l'ente che riceve la fattura (the receiving ente's route id)")
	codice := fl.String("codice", "", "CodiceDestinatario dei metadati; vuoto: quello della fattura (the MT's office code)")
	idSdI := fl.String("id", "", "IdentificativoSdI da usare negli esiti (default: un segnaposto) (IdentificativoSdI for the outcomes)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *enteID == "" || fl.NArg() != 1 {
		fmt.Fprintln(env.stderr, "uso: snodo routes dry-run [--config FILE] --ente ID [--codice UFFICIO] [--id IDENTIFICATIVO] FILE")
		return 2
	}
	cfg, routes, err := setup(env, *configPath, "")
	if err != nil {
		return printProblems(env, err)
	}
	e, ok := routes.Ente(*enteID)
	if !ok {
		var ids []string
		for _, x := range routes.Enti {
			ids = append(ids, x.ID())
		}
		sort.Strings(ids)
		fmt.Fprintf(env.stderr, "snodo: ente %q non trovato; enti configurati: %s\n", *enteID, strings.Join(ids, ", "))
		return 2
	}
	path := fl.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "snodo: lettura di %s: %v\n", path, err)
		return 2
	}
	id := sdi.IdentificativoSdI("0")
	if *idSdI != "" {
		if id, err = sdi.ParseIdentificativoSdI(*idSdI); err != nil {
			fmt.Fprintf(env.stderr, "snodo: --id: %v\n", err)
			return 2
		}
	}
	x, err := passive.NewExaminer(cfg, routes, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 1
	}
	name := filepath.Base(path)
	in := passive.Input{NomeFile: name, Data: data, IdentificativoSdI: string(id), CodiceDestinatario: *codice, ReceivedAt: time.Now()}
	ex, err := x.Examine(ctx, in)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 1
	}
	w := env.stdout
	fmt.Fprintf(w, "Prova a secco (dry run): %s per l'ente %s (%s)\n", name, e.ID(), e.Ente.Name)
	if ex.Ente == nil || ex.Ente.ID() != e.ID() {
		// Show the plan for the ente asked for, and say where the hub would really send it.
		where := "nessun ente: " + ex.Unroutable
		if ex.Ente != nil {
			where = "l'ente " + ex.Ente.ID()
		}
		fmt.Fprintf(w, "  attenzione: la fattura è per l'ufficio %q: l'hub la instraderebbe a %s (the hub would route it elsewhere)\n", ex.CodiceDestinatario, where)
		if len(e.Ente.Offices) == 0 {
			return 1
		}
		in.CodiceDestinatario = e.Ente.Offices[0].Code
		fmt.Fprintf(w, "  piano mostrato come se fosse per l'ufficio %s (plan shown as if addressed to %s)\n", in.CodiceDestinatario, in.CodiceDestinatario)
		if ex, err = x.Examine(ctx, in); err != nil {
			fmt.Fprintln(env.stderr, "snodo:", err)
			return 1
		}
		if ex.Ente == nil {
			fmt.Fprintln(w, "  "+ex.Unroutable)
			return 1
		}
	}
	printExamination(w, routes, ex, name, id)
	if ex.Reject {
		return 1
	}
	return 0
}

func printExamination(w io.Writer, routes *route.Routes, ex *passive.Examination, name string, id sdi.IdentificativoSdI) {
	r := ex.Report
	fmt.Fprintf(w, "  ufficio (CodiceDestinatario): %s   formato: %s   cedente: %s   busta: %s\n",
		ex.CodiceDestinatario, orDash(ex.Formato), orDash(ex.Cedente), orDash(r.Envelope))
	if r.Signer != "" {
		fmt.Fprintf(w, "  firmatario: %s\n", r.Signer)
	}
	fmt.Fprintln(w, "\nControlli SdI (registrati: la fattura arriva già accettata dall'SdI) (SdI checks, recorded only):")
	if r.AllValid() {
		fmt.Fprintln(w, "  superati (passed)")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  %s %s%s\n", e.Code, e.Message, where(e.Path, e.Line))
	}
	for _, m := range r.Members {
		for _, e := range m.Errors {
			fmt.Fprintf(w, "  %s: %s %s%s\n", m.File, e.Code, e.Message, where(e.Path, e.Line))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  nota: %s\n", n)
	}
	fmt.Fprintf(w, "\nPre-validazione dell'ente (ente rules): %s\n", ex.Prevalidation)
	for _, v := range ex.Violations {
		fmt.Fprintf(w, "  fattura %s, regola %s: %s%s\n", v.Numero, v.Rule, v.Message, where(v.Path, v.Line))
	}
	if ex.Reject {
		fmt.Fprintln(w, "\nEsito committente che l'hub invierebbe all'SdI e all'ente (outcome the hub would send):")
		for i, d := range ex.EC02 {
			ecName := sdi.NomeFileMessaggio(name, sdi.EC, i+1)
			fmt.Fprintf(w, "  %s: EC02 (rifiuto), Descrizione %q\n", ecName, d.Descrizione)
			if doc, err := passive.DraftXML(id, d); err == nil {
				for _, line := range strings.Split(strings.TrimSpace(string(doc)), "\n") {
					fmt.Fprintln(w, "    "+line)
				}
			}
		}
		if id == "0" {
			fmt.Fprintln(w, "  (IdentificativoSdI: assegnato dall'SdI alla consegna; --id per mostrarne uno)")
		}
	}
	fmt.Fprintln(w, "\nConsegne (deliveries):")
	switch {
	case !ex.Deliver:
		fmt.Fprintln(w, "  nessuna: fattura rifiutata e deliver_rejected: false (none)")
	case len(ex.Steps) == 0:
		fmt.Fprintln(w, "  nessuna: l'ente non ha passive.protocol né passive.accounting (no delivery phase)")
	}
	if ex.Deliver {
		files := plannedFiles(ex, name)
		for i, s := range ex.Steps {
			u := *s.Endpoint.URL
			fmt.Fprintf(w, "  %d. %s (%s) %s — %s\n", i+1, s.Phase, s.Endpoint.Kind, u.Redacted(), stepLabel(s.Kind))
			for _, role := range s.Roles {
				for _, f := range files[role] {
					fmt.Fprintf(w, "       %-10s %s\n", role, f)
				}
			}
			if s.Endpoint.Kind == "pec" {
				fmt.Fprintf(w, "       oggetto: %s\n", passive.Subject(string(id), name, "Fattura", ex.Cedente, "Data Ricezione SDI", time.Now()))
			}
		}
		if ex.RenderErr != nil {
			fmt.Fprintf(w, "  attenzione: %v\n", ex.RenderErr)
		}
	}
	if ex.Notifications != "" {
		ep, _ := routes.Endpoint(ex.Ente.ID(), ex.Notifications)
		u := *ep.URL
		fmt.Fprintf(w, "\nNotifiche all'ente (DT, SE, esiti, rifiuti): %s (%s) %s\n", ex.Notifications, ep.Kind, u.Redacted())
	} else {
		fmt.Fprintln(w, "\nNotifiche all'ente: nessuna fase configurata (no notifications phase)")
	}
	if _, ok := routes.Endpoint(ex.Ente.ID(), route.PassiveOutcome); ok {
		fmt.Fprintln(w, "Esiti dall'ente: fase passive.outcome (file <fattura>_EC_nnn.xml)")
	}
	if !ex.AutoAccept.IsZero() {
		fmt.Fprintf(w, "Accettazione automatica: EC01 dopo %d giorni se l'ente non risponde (automatic EC01)\n", ex.Ente.Passive.AutoAcceptDays)
	}
	state := passive.Verificata
	if ex.Reject {
		state = passive.RifiutataPrevalidazione
	}
	fmt.Fprintf(w, "Stato dopo i controlli (state after the checks): %s\n", state)
	fmt.Fprintln(w, "\nNulla è stato registrato né inviato (nothing was stored or sent).")
}

// plannedFiles names the files of each role the hub would deliver.
func plannedFiles(ex *passive.Examination, name string) map[string][]string {
	out := map[string][]string{message.RoleMain: {name}, message.RoleMetadata: {sdi.NomeFileMessaggio(name, sdi.MT, 1)}}
	if ex.Unwrapped != nil {
		out[message.RoleUnwrapped] = []string{ex.Unwrapped.Name}
	} else {
		out[message.RoleUnwrapped] = []string{name + " (non firmato: il file stesso)"}
	}
	if ex.Rendering != nil {
		out[message.RoleRendering] = []string{fmt.Sprintf("%s (%d byte)", ex.Rendering.Name, len(ex.Rendering.Data))}
	}
	return out
}

func stepLabel(kind string) string {
	switch kind {
	case passive.StepProtocol:
		return "protocollo (protocol), poi la contabilità"
	case passive.StepAccounting:
		return "contabilità (accounting), dopo il protocollo, con NumeroProtocollo e DataProtocollo"
	}
	return "invio unico (single delivery)"
}

func where(path string, line int) string {
	switch {
	case path != "" && line > 0:
		return fmt.Sprintf(" [%s, riga %d]", path, line)
	case line > 0:
		return fmt.Sprintf(" [riga %d]", line)
	case path != "":
		return " [" + path + "]"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
