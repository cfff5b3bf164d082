// List the caller's organization's audit events: GET /audit_events.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` }; // a key of the organization, holding manage

const resp = await fetch(`${url}/audit_events?limit=10`, {
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
