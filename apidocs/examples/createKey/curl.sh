# Create a key in the caller's organization: POST /api_keys.
# KEYWARD_API_KEY is a key of the organization, holding manage.
# Add -H 'Idempotency-Key: <a random UUID>' to make a repeat safe.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/api_keys" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"key_name": "Worker", "key_scope": ["read"]}'
