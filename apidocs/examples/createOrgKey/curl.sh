# Create a key in an organization: POST /orgs/{org_id}/api_keys.
# Add -H 'Idempotency-Key: <a random UUID>' to make a repeat safe.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"name": "Backend", "permissions": ["read", "write"], "metadata": {"plan": "pro"}}'
