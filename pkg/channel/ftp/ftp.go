// Package ftp is the channel kind "ftp": files pushed into and polled from folders on an
// ente's FTP server, plain (ftp://) or with explicit TLS (ftps://: AUTH TLS, PROT P),
// client side only, passive mode (EPSV, falling back to PASV by itself), binary.
//
// # Endpoint
//
// The URL names the server and the folder: ftp://host[:port]/path. As in RFC 1738 and
// curl, the path is relative to the folder the user logs into (ftp://host/in/fatture is
// in/fatture there); ftp://host/%2Fin/fatture is the absolute /in/fatture. Credentials
// come from the endpoint's username and password (resolved from ${ENV} or file: by the
// route loader), never from the URL; they are never logged (jlaffaye/ftp's debug
// output, which prints them, is not used). TLS settings: CA bundle, client certificate,
// minimum version, expected server name. Every read and write waits at most `timeout`
// (default 60s); connecting and logging in at most `connect_timeout` (15s); a cancelled
// context cuts the connection at once.
//
// # Sender
//
// Each file of a delivery is uploaded under a temporary name (.<name>.<random>.tmp, or
// <name>.TEMP with temp_name: suffix) and then renamed to its final name, so no reader
// ever sees half a file. Final names are deterministic (Delivery.FileName for the main
// file), so a redelivery replaces the file instead of adding one; a server that refuses
// to rename over an existing file (IIS) has the old one deleted first. Companions (the
// MT metadata) are written before the main file, and with done_marker the empty
// <main>.done last. Missing folders are created. The sender keeps up to max_conns
// logged-in connections (default 2) for idle_timeout (30s): measured in
// docs/benchmarks/ftp.md, reusing a connection sends small files 1.1 times faster than
// a connection per Send over plain FTP and 1.5 times faster over FTPS on loopback (a
// TLS handshake per connection), more over a real network. A connection the server
// closed while idle is replaced once, transparently. A failed upload leaves at most a temporary file, which the next
// attempt does not reuse. Refused credentials and untrusted server certificates are
// permanent errors (an operator must act); everything else is retried by the engine.
//
// # Receiver
//
// The receiver lists its folder every `poll` (default 10s) and takes the files matching
// `pattern`, in name order, skipping hidden and temporary names (.*, *.tmp, *.TEMP) and
// .done markers. A file is taken only when complete: by default when its size and time
// are the same in two listings at least stable_for apart (2s); with stable: done only
// when <name>.done is there too (the marker is deleted once the file is claimed); with
// stable: none at once (peers that upload atomically). It is claimed by renaming it into
// the processing folder (.processing), downloaded (streamed into one buffer, at most
// max_size, default 32 MiB; a larger file is moved to the rejected folder with
// <name>.errore.txt saying why), handed to the sink, and only after the sink committed
// it moved to processed/<YYYY-MM-DD>/ or deleted (after: delete). Files left in the
// processing folder by a crash are handed over again at start, with the same DedupKey
// (host, folder, name, size, SHA-256 of the content), so the store recognises them. A
// file of the same name arriving while one is still claimed waits, so it never replaces
// it. Names that are not plain file names (separators, "..", control or invisible
// characters, invalid UTF-8, over 240 bytes) are refused with a warning naming them and
// left alone: nothing is ever written outside the endpoint's folders, and nothing is
// written locally except in batch mode (under Deps.DataDir).
//
// # Settings
//
// Every setting is optional except where noted; see Settings for the defaults. In a
// route file, a folder the hub polls and one it writes into might read:
//
//	from:
//	  channel: ftp
//	  url: ftps://ftp.comune-a.example/fatture/in
//	  username: ${COMUNE_A_FTP_USER}
//	  password: ${COMUNE_A_FTP_PASSWORD}
//	  tls: {ca: /etc/snodo/comune-a-ca.pem, min_version: "1.2"}
//	  settings: {pattern: "IT*.xml", poll: 30s, stable: done, after: move}
//	to:
//	  channel: ftp
//	  url: ftp://ftp.comune-a.example/%2Fprotocollo
//	  username: ${COMUNE_A_FTP_USER}
//	  password: file:/run/secrets/comune-a-ftp
//	  settings: {temp_name: suffix, done_marker: true, timeout: 2m}
//
// # Batch convention (batch: intermediamarche)
//
// The SDIFTP supporti of IntermediaMarche's "FTP Canale Avanzato" (see package batch for
// the names, the quadratura and the checks). Outbound, Send stages each delivery
// durably under Deps.DataDir (fsynced, then renamed) and returns; a flusher, every
// flush_every (60s) or when the staged files reach max_zip_size (150 MiB), groups the
// staged deliveries into zips FO.<CF>.<AAAADDD>.<HHMM>.<NNN>.zip with a quadratura,
// split at delivery boundaries and where a file name repeats, and uploads each as
// <zip>.done.TEMP renamed to <zip>.done (the name stays .zip.done at the ente, as with
// IntermediaMarche). Staged deliveries survive crashes; a zip built but not confirmed
// uploaded is uploaded again under the same name. Send reports success once the
// delivery is staged: the upload is the flusher's job, logged, and retried until it
// succeeds. Inbound, the receiver takes *.done files (stable: none by default: the ente
// renames a complete upload), downloads each to a local file, checks it (structure,
// limits, exactly one quadratura valid against the XSD, NomeSupporto naming the zip,
// counts per file type), hands each file to the sink as its own item (DedupKey: zip name,
// SHA-256 of the zip, entry name; headers NomeSupporto and TipoFile), writes the outcome
// EO.<…>.xml (ET01) to outcome_dir and moves the zip to processati/<name>.ok. A zip
// that fails a check gets an ET02 outcome listing every reason (in an XML comment, so
// the file stays valid against the XSD) and is moved to the rejected folder with
// <name>.errore.txt. Choices where the notes are silent: the refused zip goes to
// rejected/ rather than processati/ (IntermediaMarche moves both); the outcome's
// NomeSupporto is the zip's name, as SDIFTP intends; the quadratura file of every zip is
// named like the zip (IntermediaMarche switches to an EO. prefix after the first).
package ftp

import (
	"snodo/pkg/channel"
)

// Kind returns the ftp channel kind.
func Kind() *channel.Kind {
	return &channel.Kind{
		Name:        "ftp",
		Schemes:     []string{"ftp", "ftps"},
		NewSettings: func() any { return &Settings{} },
		NewSender:   newSender,
		NewReceiver: newReceiver,
	}
}

func settingsOf(ep *channel.Endpoint) *Settings {
	if s, ok := ep.Settings.(*Settings); ok && s != nil {
		return s
	}
	return &Settings{}
}

func newSender(ep *channel.Endpoint, deps channel.Deps) (channel.Sender, error) {
	set := settingsOf(ep)
	if set.batch() {
		return newBatchSender(ep, set, deps)
	}
	return newPlainSender(ep, set, deps)
}

var (
	_ channel.Sender   = (*sender)(nil)
	_ channel.Sender   = (*batchSender)(nil)
	_ Flusher          = (*batchSender)(nil)
	_ channel.Receiver = (*receiver)(nil)
)
