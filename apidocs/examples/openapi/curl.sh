# This document: GET /openapi.yaml.
curl -sS --fail-with-body "$KEYWARD_URL/openapi.yaml"
