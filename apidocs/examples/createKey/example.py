"""Create a key in the caller's organization: POST /api_keys."""
import os
import uuid

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}  # a key of the organization, holding manage

resp = requests.post(
    f"{url}/api_keys",
    headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    json={"key_name": "Worker", "key_scope": ["read"]},
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
created = resp.json()
print("created", created["id"], created["hint"])
# created["key"] is the secret, shown this once: hand it to its owner now.
