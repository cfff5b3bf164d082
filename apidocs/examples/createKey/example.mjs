// Create a key in the caller's organization: POST /api_keys.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` }; // a key of the organization, holding manage

const resp = await fetch(`${url}/api_keys`, {
  method: "POST",
  headers: { ...headers, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
  body: JSON.stringify({ key_name: "Worker", key_scope: ["read"] }),
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const created = await resp.json();
console.log("created", created.id, created.hint);
// created.key is the secret, shown this once: hand it to its owner now.
