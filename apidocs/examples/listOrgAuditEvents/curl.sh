# List an organization's audit events: GET /orgs/{org_id}/audit_events.
curl -sS --fail-with-body "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/audit_events?limit=10" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
