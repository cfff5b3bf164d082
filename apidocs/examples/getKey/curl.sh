# Get a key of the caller's organization: GET /api_keys/{key_id}.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
