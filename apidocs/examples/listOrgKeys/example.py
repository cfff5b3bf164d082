"""List an organization's keys: GET /orgs/{org_id}/api_keys."""
import os

import requests

url = os.environ["KEYWARD_URL"]
headers = {"Authorization": "Bearer " + os.environ["KEYWARD_API_KEY"]}
org_id = os.environ["KEYWARD_ORG_ID"]

resp = requests.get(
    f"{url}/orgs/{org_id}/api_keys",
    headers=headers,
    params={"limit": 10},
    timeout=10,
)
if not resp.ok:
    # Every error is a problem document (RFC 9457): branch on its type.
    problem = resp.json()
    raise SystemExit(f"{problem['status']} {problem['type']}: {problem['detail']}")
for k in resp.json():
    print(k["id"], k["name"], k["state"], k["permissions"])
if "next" in resp.links:
    print("more:", resp.links["next"]["url"])
