// Restore a deleted key: POST /orgs/{org_id}/api_keys/{key_id}/restore.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;
const keyId = process.env.KEYWARD_KEY_ID;

const resp = await fetch(`${url}/orgs/${orgId}/api_keys/${keyId}/restore`, {
  method: "POST",
  headers,
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const k = await resp.json();
console.log(k.id, k.name, k.state, "version", resp.headers.get("ETag"));
