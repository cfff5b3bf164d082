# Disable a key: POST /orgs/{org_id}/api_keys/{key_id}/disable.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID/disable" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
