# Enable a key: POST /orgs/{org_id}/api_keys/{key_id}/enable.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID/enable" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
