# Change a key of an organization: PATCH /orgs/{org_id}/api_keys/{key_id}.
curl -sS --fail-with-body -X PATCH "$KEYWARD_URL/orgs/$KEYWARD_ORG_ID/api_keys/$KEYWARD_KEY_ID" \
  -H "Authorization: Bearer $KEYWARD_API_KEY" \
  -H 'Content-Type: application/merge-patch+json' \
  -d '{"name": "Backend (prod)", "metadata": {"plan": "enterprise"}}'
