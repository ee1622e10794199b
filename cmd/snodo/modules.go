package main

import (
	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/channel/ftp"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/channel/ws"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/passive"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/flow/sdisim"
	"snodo/pkg/hub"
	"snodo/pkg/pagopa/pagopamod"
	"snodo/pkg/route"
)

// channelKinds is the registry of every channel kind this binary carries.
// Add a kind here when its package lands (one line each).
func channelKinds() *channel.Registry {
	return channel.NewRegistry(
		fs.Kind(),
		ftp.Kind(),
		pecchannel.Kind(),
		ws.Kind(),
	)
}

// hubModules are the flows and services this binary carries, in start order.
// Add a module here when its package lands (one line each).
func hubModules(cfg *route.Config) []hub.Module {
	sp := sdipec.New(sdipec.Options{}) // the SdI over PEC (sdi.channel: pec); inert otherwise
	act := active.New(active.Options{SdIPEC: sp})
	pas := passive.New(passive.Options{SdIPEC: sp})
	sp.Connect(act, pas)
	enti := api.NewModule(act, pas)
	return []hub.Module{
		sdisim.New(), // first: it points the SdI client of the flows at the simulator
		sp,
		act,
		pas,
		enti, // the API for enti, over both cycles
		// pagoPA: paForNode, positions (with the API's credentials), receipts.
		pagopamod.New(pagopamod.Options{EnteFromRequest: enti.EnteFromRequest}),
	}
}
