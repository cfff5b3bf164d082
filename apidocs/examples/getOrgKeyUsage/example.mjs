// A key's verifications per hour, by outcome, over one day:
// GET /orgs/{org_id}/api_keys/{key_id}/usage.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` };
const org = process.env.KEYWARD_ORG_ID;
const keyId = process.env.KEYWARD_KEY_ID;

const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
const resp = await fetch(`${url}/orgs/${org}/api_keys/${keyId}/usage?` + new URLSearchParams({ since }), { headers });
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const usage = await resp.json();
console.log(usage.key_id, "valid", usage.totals.valid, "of", usage.totals.total, "since", usage.since);
