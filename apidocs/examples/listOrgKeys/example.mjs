// List an organization's keys: GET /orgs/{org_id}/api_keys.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;

const resp = await fetch(`${url}/orgs/${orgId}/api_keys?limit=10`, {
  headers,
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
for (const k of await resp.json()) {
  console.log(k.id, k.name, k.state, k.permissions);
}
const next = resp.headers.get("Link"); // rel="next" when there are more
if (next) console.log("more:", next);
