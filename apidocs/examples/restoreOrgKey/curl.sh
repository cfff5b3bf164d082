# Restore a deleted key: POST /orgs/{org_id}/api_keys/{key_id}/restore.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID/restore" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
