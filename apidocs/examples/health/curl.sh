# Liveness check: GET /healthz.
curl -sS --fail-with-body "$KEYWARD_URL/healthz"
