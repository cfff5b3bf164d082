// Create a key in an organization: POST /orgs/{org_id}/api_keys.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;

const resp = await fetch(`${url}/orgs/${orgId}/api_keys`, {
  method: "POST",
  headers: { ...headers, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
  body: JSON.stringify({ name: "Backend", permissions: ["read", "write"], metadata: { plan: "pro" } }),
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const created = await resp.json();
console.log("created", created.id, created.hint);
// created.key is the secret, shown this once: hand it to its owner now.
