//go:build depspin

// Package depspin pins the project's planned dependencies while the packages that use
// them are being written. It is never built.
package depspin

import (
	_ "github.com/beevik/etree"
	_ "github.com/emersion/go-imap/v2"
	_ "github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-imap/v2/imapserver"
	_ "github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	_ "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	_ "github.com/emersion/go-message/mail"
	_ "github.com/emersion/go-sasl"
	_ "github.com/emersion/go-smtp"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/jlaffaye/ftp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/russellhaering/goxmldsig"
	_ "github.com/smallstep/pkcs7"
	_ "github.com/terminalstatic/go-xsd-validate"
	_ "go.yaml.in/yaml/v3"
	_ "goftp.io/server/v2"
	_ "goftp.io/server/v2/driver/file"
	_ "golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"
)
