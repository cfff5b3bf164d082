// List an organization's audit events: GET /orgs/{org_id}/audit_events.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;

const resp = await fetch(`${url}/orgs/${orgId}/audit_events?limit=10`, {
  headers,
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
for (const e of await resp.json()) {
  console.log(e.time, e.action, e.key_id, "by", e.actor);
}
