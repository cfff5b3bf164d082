# The API reference page: GET /docs.
curl -sS --fail-with-body "$KEYWARD_URL/docs"
