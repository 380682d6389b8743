// Test fixtures: a running server with tenants and read/write tokens, and health checks.
import assert from 'node:assert/strict';
import { request } from './http.mjs';
import { VoxelgateServer } from './server.mjs';

// Starts a server named `name` (log: build/test-logs/NAME-*.log) with one tenant per
// slug and a read+write token for each. Returns {server, tokens: {slug: token}}.
export async function startWithTenants(name, slugs = ['alpha'], { args = [], env = {} } = {}) {
  const server = await VoxelgateServer.start({ name, args, env });
  const tokens = {};
  try {
    for (const slug of slugs) {
      await server.createTenant(slug);
      tokens[slug] = await server.createToken({ tenant: slug, name: `${slug}-rw` });
    }
  } catch (e) {
    await server.dispose();
    throw e;
  }
  return { server, tokens };
}

export async function assertHealthy(server, context = '') {
  assert.ok(server.running, `server process exited ${JSON.stringify(server.exitInfo)} ${context}; log ${server.logPath}`);
  const res = await request(server.baseUrl, { path: '/healthz', timeoutMs: 5000 });
  assert.equal(res.status, 200, `/healthz after ${context}`);
}

export function toArrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

export { eventually, sleep } from './wait.mjs';
