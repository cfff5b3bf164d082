# A key's verifications per hour, by outcome, over one day:
# GET /orgs/{org_id}/api_keys/{key_id}/usage.
since=$(date -u -d '24 hours ago' +%Y-%m-%dT%H:00:00Z)
curl -sS --fail-with-body -G "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID/usage" \
  --data-urlencode "since=$since" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
