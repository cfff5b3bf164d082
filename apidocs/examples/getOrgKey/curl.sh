# Get a key of an organization: GET /orgs/{org_id}/api_keys/{key_id}.
curl -sS --fail-with-body "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
