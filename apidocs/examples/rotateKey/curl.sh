# Rotate a key's secret: POST /api_keys/{key_id}/rotate.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID/rotate" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"grace_period": "24h"}'
