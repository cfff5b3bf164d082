// Rotate a key's secret: POST /orgs/{org_id}/api_keys/{key_id}/rotate.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;
const keyId = process.env.KEYWARD_KEY_ID;

const resp = await fetch(`${url}/orgs/${orgId}/api_keys/${keyId}/rotate`, {
  method: "POST",
  headers: { ...headers, "Content-Type": "application/json" },
  body: JSON.stringify({ grace_period: "24h" }),
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const r = await resp.json();
console.log(r.id, "new secret", r.hint, "previous one until", r.previous_secret_expires_at);
// r.key is the new secret, shown this once.
