# Enable a key: POST /api_keys/{key_id}/enable.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID/enable" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
