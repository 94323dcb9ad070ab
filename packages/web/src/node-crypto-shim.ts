// @hpke/core falls back to `import("crypto")` (Node's) only where globalThis.crypto is missing, never in a
// browser: the build points that import here instead of leaving a Node module in the page.
export const webcrypto = globalThis.crypto;
