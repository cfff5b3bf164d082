# List the caller's organization's audit events: GET /audit_events.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body "$KEYWARD_URL/audit_events?limit=10" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
