package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

type statusJSON struct {
	Status string `json:"status"`
}

// handleHealthz answers while the process is up.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, r, http.StatusOK, statusJSON{Status: "ok"})
	})
}

// readyTimeout bounds the database check of /readyz.
const readyTimeout = 2 * time.Second

// handleReadyz answers 200 while the database answers and the instance
// is not warming up (warming, if not nil, reports true), 503 otherwise.
func handleReadyz(db Pinger, warming func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if warming != nil && warming() {
			writeError(w, r, keyward.Errorf(keyward.EUNAVAILABLE, "warming up: the verification cache is being filled from the database"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			writeError(w, r, &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "the database does not answer", Err: err})
			return
		}
		encode(w, r, http.StatusOK, statusJSON{Status: "ready"})
	})
}

// handleOpenAPI serves the OpenAPI document.
func handleOpenAPI(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(doc)
	})
}
