# A key's verifications per hour, by outcome, over the last 7 days (the
# default; since and until choose other hours, 31 days at most):
# GET /api_keys/{key_id}/usage.
# KEYWARD_API_KEY is a key of the organization, holding manage.
curl -sS --fail-with-body "$KEYWARD_URL/api_keys/$KEYWARD_KEY_ID/usage" \
  -H "Authorization: Bearer $KEYWARD_API_KEY"
