// Verify a key: POST /verify.
const url = process.env.KEYWARD_URL;

const resp = await fetch(`${url}/verify`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ key: process.env.KEYWARD_VERIFY_KEY, permissions: ["read"] }),
});
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
const v = await resp.json();
if (v.valid) {
  console.log("valid:", v.key_id, v.org_id, v.permissions);
} else {
  console.log("refused:", v.code); // any code but VALID is a refusal
}
