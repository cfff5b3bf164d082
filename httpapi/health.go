package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

type statusJSON struct {
	Status string `json:"status"`
}

// handleHealthz answers while the process is up.
func handleHealthz(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, logger, r, http.StatusOK, statusJSON{Status: "ok"})
	})
}

// readyTimeout bounds the database check of /readyz.
const readyTimeout = 2 * time.Second

// handleReadyz answers 200 while the database answers, 503 otherwise.
func handleReadyz(logger *slog.Logger, db Pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			logger.WarnContext(r.Context(), "not ready", "request_id", requestID(w), "err", err)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, r, http.StatusServiceUnavailable, "the database does not answer", nil)
			return
		}
		encode(w, logger, r, http.StatusOK, statusJSON{Status: "ready"})
	})
}

// handleOpenAPI serves the OpenAPI document.
func handleOpenAPI(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(doc)
	})
}
