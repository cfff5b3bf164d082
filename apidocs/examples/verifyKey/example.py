"""Verify a key: POST /verify."""
import os

import requests

url = os.environ["KEYWARD_URL"]

resp = requests.post(
    f"{url}/verify",
    json={"key": os.environ["KEYWARD_VERIFY_KEY"], "permissions": ["read"]},
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
v = resp.json()
if v["valid"]:
    print("valid:", v["key_id"], v["org_id"], v["permissions"])
else:  # any code but VALID is a refusal
    print("refused:", v["code"])
