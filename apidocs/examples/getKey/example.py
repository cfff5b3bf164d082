"""Get a key of the caller's organization: GET /api_keys/{key_id}."""
import os

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}  # a key of the organization, holding manage
key_id = os.environ["KEYWARD_KEY_ID"]

resp = requests.get(
    f"{url}/api_keys/{key_id}",
    headers=headers,
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
k = resp.json()
print(k["id"], k["name"], k["state"], "version", resp.headers.get("ETag"))
