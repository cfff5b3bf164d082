"""The API reference page: GET /docs."""
import os

import requests

url = os.environ["KEYWARD_URL"]

resp = requests.get(
    f"{url}/docs",
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
print(len(resp.text), "characters of HTML")
