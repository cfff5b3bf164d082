package main

// This file is serve's wiring: everything serve builds on the open
// database to answer requests (the verification cache, the last-used
// recorder, the revocation watch and the HTTP handler) is here and nowhere
// else, so that it can be reworked in one place. Main opens the database
// before startService, serves service.handler, and calls service.stop once
// the HTTP server has stopped taking requests, before it closes the
// database.

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
)

// service is what Main runs on the database.
type service struct {
	// svc answers through the cache; Main bootstraps the first root key
	// through it.
	svc *keyward.Service
	// handler is the HTTP API.
	handler http.Handler
	// stop ends the background work: the revocation watch, then the
	// last-used recorder, with its final flush.
	stop func()
}

// startService wires the service on db and starts its background work,
// which runs until service.stop; ctx gives it its values, not its end.
func startService(ctx context.Context, db database, cfg ServeConfig, logger *slog.Logger) *service {
	cache := keycache.New(db, keycache.Options{Size: cfg.CacheSize, TTL: cfg.CacheTTL})
	svc := keyward.NewService(cache)
	usage := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = usage
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() {
		defer close(usageDone)
		usage.Run(usageCtx, cfg.LastUsedInterval, func(err error) {
			logger.Warn("could not record keys' last use; will retry", "err", err)
		})
	}()

	// Keys changed by other processes leave this one's cache.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if err := db.WatchInvalidations(watchCtx, cache, keycache.DefaultStalenessBound/4); err != nil {
			logger.Error("not watching for keys changed by other processes; every verification reads the database", "err", err)
		}
	}()

	return &service{
		svc:     svc,
		handler: httpapi.NewHandler(logger, svc, db),
		stop: func() {
			stopWatch()
			<-watchDone
			// The last flush of last_used_at; the database is still open.
			stopUsage()
			<-usageDone
		},
	}
}
