"""List an organization's audit events: GET /orgs/{org_id}/audit_events."""
import os

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}
org_id = os.environ["KEYWARD_ORG_ID"]

resp = requests.get(
    f"{url}/orgs/{org_id}/audit_events",
    headers=headers,
    params={"limit": 10},
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
for e in resp.json():
    print(e["time"], e["action"], e["key_id"], "by", e["actor"])
