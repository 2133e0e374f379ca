// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol) on a SQLite
// or PostgreSQL backend for local development and tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// disableIndexPushdownEnv turns the index pushdown off when set to 1 (see -disable-index-pushdown).
const disableIndexPushdownEnv = "FERRETDB_DISABLE_INDEX_PUSHDOWN"

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (empty: no plaintext listener)")
	listenTLS := flag.String("listen-tls", "", "TLS address to listen on (empty: no TLS listener)")
	tlsCertFile := flag.String("listen-tls-cert-file", "", "PEM certificate of the TLS listener")
	tlsKeyFile := flag.String("listen-tls-key-file", "", "PEM private key of the TLS listener")
	tlsCAFile := flag.String("listen-tls-ca-file", "",
		"PEM CA bundle: when set, the TLS listener requires a client certificate signed by it (mutual TLS)")
	dataDir := flag.String("data-dir", "data", "directory for SQLite databases")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql backend")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	gcPercent := flag.Int("gc-percent", 400,
		"Go garbage collection target (GOGC) unless the GOGC variable is set: the store allocates a copy of every "+
			"document it decodes, and collecting at 4x the live heap instead of 2x cuts its CPU per read by a third "+
			"for a few tens of MB more memory")
	synchronous := flag.String("sqlite-synchronous", "normal",
		"SQLite synchronous mode with WAL: normal (safe against a process crash, one fsync per checkpoint) or full (one fsync per write)")
	disableIndexPushdown := flag.Bool("disable-index-pushdown", os.Getenv(disableIndexPushdownEnv) == "1",
		"serve no query from SQLite indexes beyond _id lookups: read whole collections and filter, sort and limit in memory "+
			"(also "+disableIndexPushdownEnv+"=1); the reference for checking the index pushdown")
	flag.Parse()

	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}

	if *disableIndexPushdown {
		// read by the SQLite backend and the handler
		os.Setenv(disableIndexPushdownEnv, "1")
	} else {
		os.Unsetenv(disableIndexPushdownEnv)
	}

	if *synchronous != "normal" && *synchronous != "full" {
		fmt.Fprintf(os.Stderr, "invalid -sqlite-synchronous: %q\n", *synchronous)
		os.Exit(2)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "invalid -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "cannot create data dir: %v\n", err)
		os.Exit(1)
	}

	db, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP:         *listen,
			TLS:         *listenTLS,
			TLSCertFile: *tlsCertFile,
			TLSKeyFile:  *tlsKeyFile,
			TLSCAFile:   *tlsCAFile,
		},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     sqliteURL(*dataDir, *synchronous),
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot start ferretdb: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger.Warn("ferretdb listening", "addr", *listen, "tls_addr", *listenTLS, "handler", *handler)
	if err := db.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb stopped: %v\n", err)
		os.Exit(1)
	}
}

// sqliteURL names the data directory and the pragmas FerretDB does not set itself (it adds busy_timeout,
// journal_mode(wal) and auto_vacuum).
func sqliteURL(dataDir, synchronous string) string {
	return "file:" + dataDir + "/?_pragma=synchronous(" + synchronous + ")"
}
