# snodo — make run starts the hub on its embedded defaults; make test runs every test.
GO      ?= go
BIN     ?= bin/snodo
export GOFLAGS ?= -buildvcs=false

.PHONY: run build test test-short fuzz bench vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/snodo

# The first run also drops the example debt positions in the example ente's folder.
run: build
	@if [ ! -e data/.esempio-pendenze ]; then mkdir -p data/comune-esempio/pendenze && \
		cp testdata/pagopa/esempio/pendenze-comune-esempio.csv data/comune-esempio/pendenze/ && touch data/.esempio-pendenze; fi
	./$(BIN) serve --config snodo.yaml

# The whole suite: SQLite and PostgreSQL stores, real FTP/SMTP/IMAP/HTTPS servers.
# PostgreSQL is expected on 127.0.0.1:5432 (override with SNODO_TEST_POSTGRES).
test: vet
	$(GO) test -count=1 -timeout 20m ./...
	./scripts/fuzz-smoke.sh 5s

test-short:
	$(GO) test -short -count=1 ./...

fuzz:
	./scripts/fuzz-smoke.sh 60s

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
