# List an organization's keys: GET /orgs/{org_id}/api_keys.
curl -sS --fail-with-body "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys?limit=10" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
