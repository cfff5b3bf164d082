# Verify a key: POST /verify.
curl -sS --fail-with-body -X POST "$KEYWARD_URL/verify" \
  -H 'Content-Type: application/json' \
  -d "{\"key\": \"$KEYWARD_VERIFY_KEY\", \"permissions\": [\"read\"]}"
