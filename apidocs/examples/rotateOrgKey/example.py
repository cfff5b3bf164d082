"""Rotate a key's secret: POST /orgs/{org_id}/api_keys/{key_id}/rotate."""
import os

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}
org_id = os.environ["KEYWARD_ORG_ID"]
key_id = os.environ["KEYWARD_KEY_ID"]

resp = requests.post(
    f"{url}/orgs/{org_id}/api_keys/{key_id}/rotate",
    headers=headers,
    json={"grace_period": "24h"},
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
r = resp.json()
print(r["id"], "new secret", r["hint"], "previous one until", r["previous_secret_expires_at"])
# r["key"] is the new secret, shown this once.
