"""A key's verifications per hour, by outcome, over the last 7 days (the
default): GET /api_keys/{key_id}/usage."""
import os

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}  # a key of the organization, holding manage
key_id = os.environ["KEYWARD_KEY_ID"]

resp = requests.get(f"{url}/api_keys/{key_id}/usage", headers=headers, timeout=10)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
usage = resp.json()
print(usage["key_id"], "valid", usage["totals"]["valid"], "of", usage["totals"]["total"], "in", len(usage["hours"]), "hours")
for h in usage["hours"]:
    if h["total"]:
        print(h["hour"], h["valid"], "valid", h["rate_limited"], "rate limited")
