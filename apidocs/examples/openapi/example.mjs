// This document: GET /openapi.yaml.
const url = process.env.KEYWARD_URL;

const resp = await fetch(`${url}/openapi.yaml`);
if (!resp.ok) {
  // Every error is a problem document (RFC 9457): branch on its type.
  const problem = await resp.json();
  throw new Error(`${problem.status} ${problem.type}: ${problem.detail}`);
}
console.log((await resp.text()).length, "characters of YAML");
