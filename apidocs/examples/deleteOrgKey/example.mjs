// Delete a key of an organization: DELETE /orgs/{org_id}/api_keys/{key_id}.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const orgId = process.env.KEYWARD_ORG_ID;
const keyId = process.env.KEYWARD_KEY_ID;

const resp = await fetch(`${url}/orgs/${orgId}/api_keys/${keyId}`, {
  method: "DELETE",
  headers,
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
console.log((await resp.json()).message);
