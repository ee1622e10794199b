package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"snodo/pkg/fatturapa"
	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/route"
	"snodo/pkg/signature"
)

func init() {
	register(command{name: "validate", usage: "[--ente ID] [--routes DIR] [--trust DIR] [--format text|json] FILE...",
		summary: "controlla fatture come lo SdI, più le regole dell'ente (validate invoices as the SdI does, plus the ente's rules)",
		run:     runValidate})
}

// validateSetup is what the command needs besides the files: the ente's rules and the
// signature trust anchors, both optional.
type validateSetup struct {
	rules *rules.RuleSet
	trust *signature.TrustStore
}

// loadEnteRules reads the pre-validation rules of ente from the route files (routesDir,
// or the routes_dir of the configuration) through pkg/route, and the signature trust
// anchors the configuration names.
func loadEnteRules(env *cliEnv, configPath, routesDir, ente string) (*rules.RuleSet, *route.Config, error) {
	cfg, routes, err := setup(env, configPath, routesDir)
	if err != nil {
		return nil, nil, err
	}
	e, ok := routes.Ente(ente)
	if !ok {
		var ids []string
		for _, x := range routes.Enti {
			ids = append(ids, x.ID())
		}
		return nil, nil, fmt.Errorf("ente %q non trovato in %s; enti configurati: %s (ente not found)", ente, cfg.RoutesDir, strings.Join(ids, ", "))
	}
	rs, problems := rules.FromYAML(&e.Passive.Prevalidation.Rules)
	if len(problems) > 0 {
		var ps route.Problems
		for _, p := range problems {
			ps = append(ps, route.Problem{File: e.File, Line: p.Line, Msg: "passive.prevalidation.rules: " + p.Msg})
		}
		return nil, nil, ps
	}
	return rs, cfg, nil
}

func runValidate(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "validate")
	ente := fl.String("ente", "", "applica anche le regole di pre-validazione di questo ente (also apply this ente's pre-validation rules)")
	routesDir := fl.String("routes", "", "cartella dei file di rotta, per --ente (route files folder, for --ente)")
	trustDir := fl.String("trust", "", "cartella dei certificati delle CA affidabili per le firme (trusted CA certificates for signatures)")
	format := fl.String("format", "text", "formato dell'esito: text o json (output format)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(env.stderr, "snodo validate: --format %q: usare text o json (use text or json)\n", *format)
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(env.stderr, "uso: snodo validate [--ente ID] [--routes DIR] [--trust DIR] [--format text|json] FILE...")
		return 2
	}
	var set validateSetup
	maxSize := int64(fatturapa.MaxFileSize)
	if *ente != "" {
		rs, cfg, err := loadEnteRules(env, *configPath, *routesDir, *ente)
		if err != nil {
			return printProblems(env, err)
		}
		set.rules = rs
		if cfg.SdI.MaxFileSize > 0 {
			maxSize = cfg.SdI.MaxFileSize
		}
		if *trustDir == "" && cfg.Trust.Signatures != "" {
			*trustDir = cfg.Trust.Signatures
		}
	}
	cfg := fatturapa.Config{MaxFileSize: maxSize}
	if *trustDir != "" {
		ts, err := signature.LoadTrustStore(*trustDir)
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo validate: --trust %s: %v\n", *trustDir, err)
			return 2
		}
		set.trust = ts
		cfg.Signatures = &signature.Verifier{Trust: ts}
	}
	v, err := fatturapa.New(cfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "snodo validate: %v\n", err)
		return 2
	}
	status := 0
	for _, path := range fl.Args() {
		if err := ctx.Err(); err != nil {
			fmt.Fprintf(env.stderr, "snodo validate: interrotto (interrupted): %v\n", err)
			return 1
		}
		data, err := readCapped(path, maxSize)
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo validate: %s: %v\n", path, err)
			status = 1
			continue
		}
		r := v.Validate(ctx, filepath.Base(path), data, fatturapa.Options{Rules: set.rules})
		if !r.AllValid() {
			status = 1
		}
		if *format == "json" {
			if err := writeJSON(env.stdout, path, r); err != nil {
				fmt.Fprintf(env.stderr, "snodo validate: %v\n", err)
				return 1
			}
			continue
		}
		writeText(env.stdout, path, r, "")
	}
	return status
}

// readCapped reads at most max+1 bytes: enough for the size check to refuse a larger
// file without loading it whole.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

// writeJSON prints one object per file; an archive prints its own object, then one per
// invoice file in it, named archive/file.
func writeJSON(w io.Writer, path string, r *fatturapa.Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	flat := *r
	flat.File, flat.Members = path, nil
	if err := enc.Encode(&flat); err != nil {
		return err
	}
	for _, m := range r.Members {
		if err := writeJSON(w, path+"/"+m.File, m); err != nil {
			return err
		}
	}
	return nil
}

func writeText(w io.Writer, path string, r *fatturapa.Report, indent string) {
	verdict := "VALIDO (valid)"
	switch {
	case r.Err != nil:
		verdict = "NON VERIFICATO (not checked)"
	case !r.Valid:
		verdict = fmt.Sprintf("NON VALIDO (invalid), errori: %d", len(r.Errors))
	case r.Envelope == "zip":
		bad := 0
		for _, m := range r.Members {
			if !m.AllValid() {
				bad++
			}
		}
		verdict = fmt.Sprintf("archivio integro, %d file di cui %d non validi (archive intact, %d files, %d invalid)", len(r.Members), bad, len(r.Members), bad)
	}
	fmt.Fprintf(w, "%s%s: %s\n", indent, path, verdict)
	if r.Signer != "" {
		fmt.Fprintf(w, "%s  firmato da (signed by): %s\n", indent, r.Signer)
	}
	for _, e := range r.Errors {
		where := ""
		if e.Line > 0 {
			where = fmt.Sprintf(" riga %d", e.Line)
		}
		if e.Path != "" {
			where += " " + e.Path
		}
		rule := ""
		if e.Rule != "" {
			rule = " [regola " + e.Rule + "]"
		}
		fmt.Fprintf(w, "%s  %s%s%s\n%s        %s\n", indent, e.Code, rule, where, indent, e.Message)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "%s  nota: %s\n", indent, n)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "%s  errore: %v\n", indent, r.Err)
	}
	for _, m := range r.Members {
		writeText(w, m.File, m, indent+"  ")
	}
}
