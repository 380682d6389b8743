// docs/openapi.json describes exactly the routes the server registers (both directions),
// is a valid OpenAPI 3.1 document, names each route's roles and credentials as the policy
// table has them, and is what the server serves at /api/openapi.json (with Redoc over it
// at /api/docs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { binaryPath, makeTempDir, repoRoot, requireBinary } from './lib/env.mjs';
import { startWithTenants } from './lib/fixture.mjs';
import { request } from './lib/http.mjs';
import { description, descriptionPath, matchOperation, operations } from './lib/openapi.mjs';

const execFileP = promisify(execFile);
const WEB_APP = '/{*path}'; // the browser app's catch-all: pages, not API
let routes;

before(async () => {
  requireBinary();
  const { stdout } = await execFileP(binaryPath, ['admin', '--data-dir', makeTempDir('routes'), 'routes']);
  routes = JSON.parse(stdout).filter((r) => r.pattern !== WEB_APP);
});

const key = (method, path) => `${method} ${path}`;

test('every registered route is described, and every described operation is a registered route', () => {
  const registered = new Set(routes.map((r) => key(r.method, r.pattern)));
  const described = new Set(operations().map((o) => key(o.method, o.path)));
  const undescribed = [...registered].filter((k) => !described.has(k)).sort();
  const unregistered = [...described].filter((k) => !registered.has(k)).sort();
  assert.ok(
    undescribed.length === 0 && unregistered.length === 0,
    `docs/openapi.json and \`voxelgate admin routes\` differ:\n` +
      `  registered but not described (${undescribed.length}):\n${undescribed.map((k) => `    + ${k}`).join('\n') || '    none'}\n` +
      `  described but not registered (${unregistered.length}):\n${unregistered.map((k) => `    - ${k}`).join('\n') || '    none'}`,
  );
});

test('the description is a valid OpenAPI 3.1 document', async () => {
  const doc = description();
  assert.match(doc.openapi, /^3\.1\.\d+$/, 'openapi: 3.1.x');
  // The OAS 3.1 schema, $refs resolved, and the rules a schema cannot state (path
  // parameters declared, operationIds unique).
  await SwaggerParser.validate(structuredClone(doc));
  const ids = operations().map((o) => o.operation.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const { method, path, operation } of operations()) {
    const name = key(method, path);
    assert.ok(operation.operationId, `${name}: operationId`);
    assert.ok(operation.summary, `${name}: summary`);
    assert.equal(operation.tags?.length, 1, `${name}: one tag`);
    assert.ok(doc.tags.some((t) => t.name === operation.tags[0]), `${name}: its tag ${operation.tags[0]} is listed`);
    assert.ok(Object.keys(operation.responses ?? {}).length > 0, `${name}: its responses`);
  }
});

test("each operation states its route's roles, token scope and credentials as the policy table has them", () => {
  const problems = [];
  for (const route of routes) {
    const found = matchOperation(route.method, route.pattern.replace(/\{[^}]+\}/g, 'x'));
    const op = description().paths[route.pattern]?.[route.method.toLowerCase()];
    if (!op || !found) continue; // the first test names it
    const name = key(route.method, route.pattern);
    const security = JSON.stringify(op.security);
    if (route.public) {
      if (!op.description?.includes('Public')) problems.push(`${name}: public, but its description does not say so`);
      if (!(op.security?.length === 0 || op.security?.some((r) => Object.keys(r).length === 0))) problems.push(`${name}: public, but its security asks for credentials (${security})`);
      continue;
    }
    const roles = `**Roles:** ${route.roles.join(', ')}`;
    if (!op.description?.includes(roles)) problems.push(`${name}: its description does not state "${roles}"`);
    if (!op.description?.includes(`\`${route.action}\``)) problems.push(`${name}: its description does not name the action ${route.action}`);
    if (!op.security?.some((r) => 'sessionCookie' in r)) problems.push(`${name}: no session cookie in its security (${security})`);
    const bearer = op.security?.find((r) => 'bearerToken' in r);
    if (route.scope && JSON.stringify(bearer?.bearerToken) !== JSON.stringify([route.scope]))
      problems.push(`${name}: tokens need the scope ${route.scope}; its security says ${security}`);
    if (!route.scope && bearer) problems.push(`${name}: no token may do this, but its security takes one (${security})`);
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(route.method);
    const cookie = op.security?.find((r) => 'sessionCookie' in r);
    if (unsafe !== Boolean(cookie && 'csrfToken' in cookie)) problems.push(`${name}: the CSRF header is ${unsafe ? 'missing' : 'asked for a safe method'}`);
  }
  assert.deepEqual(problems, []);
});

test('the server serves the description at /api/openapi.json and Redoc over it at /api/docs', async (t) => {
  const { server } = await startWithTenants('openapi', []);
  t.after(() => server.dispose());
  const served = await request(server.baseUrl, { path: '/api/openapi.json' });
  assert.equal(served.status, 200, `GET /api/openapi.json: ${served.text().slice(0, 200)}`);
  assert.match(served.headers['content-type'], /^application\/json/);
  assert.ok(
    served.text() === readFileSync(descriptionPath, 'utf8'),
    'GET /api/openapi.json is not docs/openapi.json as it is now: the binary embeds the file it was built with (rebuild it)',
  );
  const page = await request(server.baseUrl, { path: '/api/docs' });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.text(), /<redoc spec-url="\/api\/openapi\.json">/);
  assert.match(page.text(), /<script src="\/api-docs\/redoc\.standalone\.js">/);
  // The script comes from the built browser app (web/dist), as its other assets do.
  const bundle = join(repoRoot, 'web', 'dist', 'api-docs', 'redoc.standalone.js');
  if (!existsSync(bundle)) {
    t.diagnostic(`${bundle} is not built (cd web && npm run build): the script itself is not checked`);
    return;
  }
  const script = await request(server.baseUrl, { path: '/api-docs/redoc.standalone.js' });
  assert.equal(script.status, 200, 'GET /api-docs/redoc.standalone.js');
  assert.match(script.headers['content-type'], /^text\/javascript/);
  assert.ok(script.body.equals(readFileSync(bundle)), 'the served Redoc bundle is the built one');
});
