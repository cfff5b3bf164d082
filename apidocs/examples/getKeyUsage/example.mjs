// A key's verifications per hour, by outcome, over the last 7 days (the
// default): GET /api_keys/{key_id}/usage.
const url = process.env.KEYWARD_URL;
const headers = { Authorization: `Bearer ${process.env.KEYWARD_API_KEY}` }; // a key of the organization, holding manage
const keyId = process.env.KEYWARD_KEY_ID;

const resp = await fetch(`${url}/api_keys/${keyId}/usage`, { headers });
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const usage = await resp.json();
console.log(usage.key_id, "valid", usage.totals.valid, "of", usage.totals.total, "in", usage.hours.length, "hours");
for (const h of usage.hours.filter((h) => h.total > 0)) {
  console.log(h.hour, h.valid, "valid", h.rate_limited, "rate limited");
}
