"""A key's verifications per hour, by outcome, over one day:
GET /orgs/{org_id}/api_keys/{key_id}/usage."""
import os
from datetime import datetime, timedelta, timezone

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}
org = os.environ["KEYWARD_ORG_ID"]
key_id = os.environ["KEYWARD_KEY_ID"]

since = (datetime.now(timezone.utc) - timedelta(hours=24)).isoformat()
resp = requests.get(
    f"{url}/orgs/{org}/api_keys/{key_id}/usage",
    params={"since": since},
    headers=headers,
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
usage = resp.json()
print(usage["key_id"], "valid", usage["totals"]["valid"], "of", usage["totals"]["total"], "since", usage["since"])
