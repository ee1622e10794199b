// Package pagopaconf builds the hub's pagoPA configuration (pagopa.Config) from the hub
// configuration file (pagopa: broker_id, stations) and the route files of the enti
// (ente.codice_fiscale, payments: station, aux_digit, segregation_code, application_code,
// iban), naming every problem with the route file it comes from.
package pagopaconf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"snodo/pkg/pagopa"
	"snodo/pkg/route"
)

// FromRoutes returns the pagoPA configuration: the broker and its stations from cfg, and
// every enabled ente of routes that has a payments section with a station. Station
// segregation and application codes are the defaults of the enti on them. Stations use
// the V2 primitives unless version is set in the station id's configuration (route has
// no field for it yet: V2 is what pagoPA assigns to new stations).
func FromRoutes(cfg *route.Config, routes *route.Routes) (*pagopa.Config, error) {
	out := &pagopa.Config{BrokerID: cfg.PagoPA.BrokerID}
	stations := map[string]route.StationSpec{}
	for _, s := range cfg.PagoPA.Stations {
		out.Stations = append(out.Stations, pagopa.Station{ID: s.ID, Version: 2})
		stations[s.ID] = s
	}
	var errs []string
	for _, re := range routes.Enti {
		p := re.Payments
		if !re.Ente.IsEnabled() || (p.Enabled != nil && !*p.Enabled) || p.Station == "" {
			continue
		}
		where := re.File
		if where == "" {
			where = re.ID()
		}
		e := pagopa.Ente{
			FiscalCode: re.Ente.CodiceFiscale,
			Name:       re.Ente.Name,
			RouteID:    re.ID(),
			Stations:   []string{p.Station},
			AuxDigit:   3,
			IBAN:       p.IBAN,
		}
		if p.AuxDigit != nil {
			e.AuxDigit = *p.AuxDigit
		}
		st := stations[p.Station]
		seg, app := p.SegregationCode, p.ApplicationCode
		if seg == "" {
			seg = st.SegregationCode
		}
		if app == "" {
			app = st.ApplicationCode
		}
		var err error
		if e.SegregationCode, err = code(seg); err != nil {
			errs = append(errs, fmt.Sprintf("%s: payments.segregation_code: %v", where, err))
		}
		if e.ApplicationCode, err = code(app); err != nil {
			errs = append(errs, fmt.Sprintf("%s: payments.application_code: %v", where, err))
		}
		out.Enti = append(out.Enti, e)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	if out.BrokerID == "" && len(out.Enti) == 0 {
		return out, nil // pagoPA not configured
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

func code(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || len(s) != 2 || v < 0 {
		return 0, fmt.Errorf("%q: servono 2 cifre, es. 01 (2 digits required)", s)
	}
	return v, nil
}
