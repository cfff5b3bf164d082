# Readiness check: GET /readyz.
curl -sS --fail-with-body "$KEYWARD_URL/readyz"
