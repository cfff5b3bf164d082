# Change a key of the caller's organization: PATCH /api_keys/{key_id}.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body -X PATCH "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/merge-patch+json' \
  -d '{"name": "Worker (prod)", "metadata": {"plan": "enterprise"}}'
