# List the caller's organization's keys: GET /api_keys.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body "$KEYWARD_URL/api_keys?limit=10" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
