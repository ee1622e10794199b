package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// loader returns the route loader with every check the binary knows.
func loader(env *cliEnv) *route.Loader {
	return &route.Loader{Channels: channelKinds(), Getenv: env.getenv, CheckRules: flowkit.CheckRules}
}

// setup loads the configuration and the routes it names.
func setup(env *cliEnv, configPath, routesDir string) (*route.Config, *route.Routes, error) {
	l := loader(env)
	cfg, err := l.LoadConfig(configPath)
	if err != nil {
		return nil, nil, err
	}
	if routesDir != "" {
		cfg.RoutesDir = routesDir
	}
	l.DataDir = cfg.DataDir
	routes, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, routes, nil
}

// openStore opens the configured store for operator commands.
func openStore(ctx context.Context, cfg *route.Config) (store.Store, error) {
	return hub.OpenStore(ctx, cfg, hubModules(cfg), nil)
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// flags returns a flag set that writes its errors to env.stderr, with the common
// --config flag.
func flags(env *cliEnv, name string) (*flag.FlagSet, *string) {
	fl := flag.NewFlagSet("snodo "+name, flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	cfg := fl.String("config", "snodo.yaml", "file di configurazione dell'hub (hub configuration file)")
	return fl, cfg
}

// printProblems prints configuration problems one per line and returns exit status 2.
func printProblems(env *cliEnv, err error) int {
	fmt.Fprintln(env.stderr, "snodo: configurazione non valida (invalid configuration):")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(env.stderr, "  "+line)
	}
	return 2
}
