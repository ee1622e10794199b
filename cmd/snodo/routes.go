package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"snodo/pkg/route"
)

func init() {
	register(command{name: "routes check", usage: "[--config FILE] [DIR]",
		summary: "controlla configurazione e file di rotta (check configuration and route files)", run: runRoutesCheck})
	register(command{name: "routes explain", usage: "[--config FILE] ENTE",
		summary: "mostra il piano risolto per fase di un ente (show an ente's resolved plan per phase)", run: runRoutesExplain})
}

func runRoutesCheck(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "routes check")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	_, routes, err := setup(env, *configPath, fl.Arg(0))
	if err != nil {
		return printProblems(env, err)
	}
	for _, w := range routes.Warnings {
		fmt.Fprintln(env.stdout, "attenzione (warning):", w.Error())
	}
	offices := 0
	for _, e := range routes.Enti {
		offices += len(e.Ente.Offices)
	}
	fmt.Fprintf(env.stdout, "ok: %d enti, %d uffici, nessun errore (no errors)\n", len(routes.Enti), offices)
	return 0
}

func runRoutesExplain(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "routes explain")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(env.stderr, "uso: snodo routes explain [--config FILE] ENTE")
		return 2
	}
	cfg, routes, err := setup(env, *configPath, "")
	if err != nil {
		return printProblems(env, err)
	}
	e, ok := routes.Ente(fl.Arg(0))
	if !ok {
		var ids []string
		for _, x := range routes.Enti {
			ids = append(ids, x.ID())
		}
		sort.Strings(ids)
		fmt.Fprintf(env.stderr, "snodo: ente %q non trovato; enti configurati: %s\n", fl.Arg(0), strings.Join(ids, ", "))
		return 1
	}
	w := env.stdout
	fmt.Fprintf(w, "Ente %s — %s (%s)\n", e.ID(), e.Ente.Name, e.File)
	fmt.Fprintf(w, "  codice fiscale: %s   IPA: %s   PEC: %s   attivo: %v\n", e.Ente.CodiceFiscale, e.Ente.IPA, e.Ente.PEC, e.Ente.IsEnabled())
	var offs []string
	for _, o := range e.Ente.Offices {
		offs = append(offs, o.Code)
	}
	fmt.Fprintf(w, "  uffici (CodiceDestinatario): %s\n", strings.Join(offs, ", "))
	plan := routes.Plan(e.ID())
	if len(plan) == 0 {
		fmt.Fprintln(w, "  nessuna fase configurata (no phases configured)")
		return 0
	}
	fmt.Fprintln(w, "\nFasi (phases):")
	for _, p := range plan {
		u := *p.Endpoint.URL
		fmt.Fprintf(w, "  %-24s %-15s %-4s %s\n", p.Phase, p.Direction, p.Endpoint.Kind, u.Redacted())
		if p.Endpoint.Username != "" {
			fmt.Fprintf(w, "  %-24s utente %s, password %s\n", "", p.Endpoint.Username, mask(p.Endpoint.Password))
		}
		if p.Direction == route.Send {
			r := cfg.Engine.Retry
			if p.Spec.Retry.MaxAttempts > 0 {
				r.MaxAttempts = p.Spec.Retry.MaxAttempts
			}
			if p.Spec.Retry.Initial > 0 {
				r.Initial = p.Spec.Retry.Initial
			}
			if p.Spec.Retry.MaxAge > 0 {
				r.MaxAge = p.Spec.Retry.MaxAge
			}
			if p.Spec.Retry.Max > 0 {
				r.Max = p.Spec.Retry.Max
			}
			fmt.Fprintf(w, "  %-24s tentativi: %s\n", "", describeRetry(r))
		}
	}
	if e.Passive.Protocol != nil || e.Passive.Accounting != nil {
		mode := "protocollo poi contabilità (protocol then accounting)"
		if e.Passive.SingleDelivery || e.Passive.Accounting == nil {
			mode = "invio unico (single delivery)"
		}
		fmt.Fprintf(w, "\nCiclo passivo: %s\n", mode)
	}
	return 0
}

func mask(s string) string {
	if s == "" {
		return "(nessuna)"
	}
	return "*****"
}

func describeRetry(r route.RetrySpec) string {
	n, ini, age, ceil := "10", "2s", "72h", "10m"
	if r.MaxAttempts > 0 {
		n = fmt.Sprint(r.MaxAttempts)
	}
	if r.Initial > 0 {
		ini = r.Initial.String()
	}
	if r.MaxAge > 0 {
		age = r.MaxAge.String()
	}
	if r.Max > 0 {
		ceil = r.Max.String()
	}
	return fmt.Sprintf("fino a %s, attesa iniziale %s raddoppiata fino a %s, entro %s, poi dead letter", n, ini, ceil, age)
}
