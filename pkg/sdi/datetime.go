package sdi

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Rome must resolve on every host
)

// Rome is the SdI's time zone, assumed for date-times written without an offset.
var Rome = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic("sdi: time zone Europe/Rome: " + err.Error())
	}
	return loc
}()

// DataOra is an xsd:dateTime as the SdI writes it: with or without fractional seconds,
// with "Z", an offset, or no zone (read as Europe/Rome). It is written with the offset
// of Rome and milliseconds, e.g. 2026-11-25T18:30:00.000+01:00.
type DataOra struct{ time.Time }

var dateTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
}

// ParseDataOra reads an xsd:dateTime.
func ParseDataOra(s string) (DataOra, error) {
	s = strings.TrimSpace(s)
	for i, layout := range dateTimeLayouts {
		var t time.Time
		var err error
		if i == 0 {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, Rome)
		}
		if err == nil {
			return DataOra{t}, nil
		}
	}
	return DataOra{}, fmt.Errorf("data e ora %q non valida: attesa AAAA-MM-GGThh:mm:ss (invalid xsd:dateTime)", clip(s))
}

// MarshalText writes the date-time in Rome's offset.
func (d DataOra) MarshalText() ([]byte, error) {
	return []byte(d.In(Rome).Format("2006-01-02T15:04:05.000-07:00")), nil
}

// UnmarshalText reads any xsd:dateTime form.
func (d *DataOra) UnmarshalText(b []byte) error {
	v, err := ParseDataOra(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Data is an xsd:date (DataMessaADisposizione), optionally with a zone suffix.
type Data struct{ time.Time }

// MarshalText writes YYYY-MM-DD.
func (d Data) MarshalText() ([]byte, error) { return []byte(d.In(Rome).Format(time.DateOnly)), nil }

// UnmarshalText reads YYYY-MM-DD with an optional Z or ±hh:mm.
func (d *Data) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if len(s) > 10 {
		s = s[:10] // the zone of a date does not change the day the SdI means
	}
	t, err := time.ParseInLocation(time.DateOnly, s, Rome)
	if err != nil {
		return fmt.Errorf("data %q non valida: attesa AAAA-MM-GG (invalid xsd:date)", clip(string(b)))
	}
	d.Time = t
	return nil
}
