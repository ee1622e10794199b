package main

import (
	"context"
	"fmt"

	"snodo/pkg/hub"
)

func init() {
	register(command{name: "serve", usage: "[--config FILE]",
		summary: "avvia l'hub (run the hub; default ./snodo.yaml, HTTP su 127.0.0.1:8080)",
		run:     runServe})
}

func runServe(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "serve")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, routes, err := setup(env, *configPath, "")
	if err != nil {
		return printProblems(env, err)
	}
	log := newLogger(env.stderr, cfg.Log.Format, cfg.Log.Level)
	for _, w := range routes.Warnings {
		log.Warn("rotte: " + w.Error())
	}
	h, err := hub.New(hub.Options{Config: cfg, Routes: routes, Channels: channelKinds(), Modules: hubModules(cfg), Logger: log})
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo:", err)
		return 1
	}
	if err := h.Run(ctx); err != nil {
		log.Error("hub terminato con errore", "err", err)
		return 1
	}
	return 0
}
