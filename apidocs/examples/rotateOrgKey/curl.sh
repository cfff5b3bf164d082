# Rotate a key's secret: POST /orgs/{org_id}/api_keys/{key_id}/rotate.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID/rotate" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"grace_period": "24h"}'
