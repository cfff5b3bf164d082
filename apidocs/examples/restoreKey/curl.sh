# Restore a deleted key: POST /api_keys/{key_id}/restore.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID/restore" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
