package snodowsdl

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
	_ "time/tzdata" // Europe/Rome must resolve on every host
)

// RicevutaComunicazione values have the form the IntermediaMarche schemas fix:
// "IntermediaMarche_" + 32 lower-case hex digits + "_" + local date-time to the second.
// snodo keeps the prefix so that clients validating against those schemas accept it.
//
// The 32 hex digits are the 128 bits of a snodo message id and the date-time is the
// moment that id was made (Italian time), so a receipt names its message without any
// lookup table and is the same on every delivery attempt.
const RicevutaPrefix = "IntermediaMarche_"

var (
	ricevutaPattern = regexp.MustCompile(`^IntermediaMarche_([a-f0-9]{32})_\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)
	idEncoding      = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	rome            = mustRome()
)

func mustRome() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic("snodowsdl: time zone Europe/Rome: " + err.Error())
	}
	return loc
}

// RicevutaFromMessageID returns the RicevutaComunicazione naming a message id (26
// characters of snodo's message id alphabet).
func RicevutaFromMessageID(id string) (string, error) {
	if len(id) != 26 {
		return "", fmt.Errorf("id messaggio %q non valido: attesi 26 caratteri (bad message id)", clipID(id))
	}
	b, err := idEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return "", fmt.Errorf("id messaggio %q non valido (bad message id)", clipID(id))
	}
	ms := binary.BigEndian.Uint64(b[:8]) >> 16
	at := time.UnixMilli(int64(ms)).In(rome)
	return RicevutaPrefix + hex.EncodeToString(b) + "_" + at.Format("2006-01-02T15:04:05"), nil
}

// MessageIDFromRicevuta returns the message id a RicevutaComunicazione names, and false
// when the value does not have the receipt's form.
func MessageIDFromRicevuta(r string) (string, bool) {
	m := ricevutaPattern.FindStringSubmatch(r)
	if m == nil {
		return "", false
	}
	b, err := hex.DecodeString(m[1])
	if err != nil {
		return "", false
	}
	return idEncoding.EncodeToString(b), true
}

// NewRicevuta returns a fresh receipt naming no message, for answers that store nothing
// (a refused request): the contract requires one in every answer.
func NewRicevuta(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return RicevutaPrefix + hex.EncodeToString(b[:]) + "_" + now.In(rome).Format("2006-01-02T15:04:05")
}

func clipID(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
