// Readiness check: GET /readyz.
const url = process.env.KEYWARD_URL;

const resp = await fetch(`${url}/readyz`);
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
console.log((await resp.json()).status);
