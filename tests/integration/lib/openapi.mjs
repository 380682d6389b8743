// docs/openapi.json in the tests: its operations, the route each request path matches, and
// the check of every JSON answer against the schema the description gives it.
//
// checkAnswer() is called by http.mjs's request() for every answer; a 2xx answer of an
// operation the description names must be described by it: its status, its media type
// and (JSON) its body. There is no switch: a test that gets an answer the description does
// not describe fails with the operation, the JSON pointer and the schema's complaint.
//
// In the tests the description's object schemas are closed: an object schema with
// `properties` and no `additionalProperties` gets `additionalProperties: false`, so that a
// field the server sends and the description lacks fails too. The published description
// stays open (clients keep working when a field is added); where a schema says
// `additionalProperties`, that is what holds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { repoRoot } from './env.mjs';

export const descriptionPath = join(repoRoot, 'docs', 'openapi.json');
export const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

let cached = null;

// The description as parsed (shared: do not modify).
export function description() {
  if (!cached) cached = JSON.parse(readFileSync(descriptionPath, 'utf8'));
  return cached;
}

// Every operation: {method: 'GET', path: '/api/v1/jobs/{id}', operation}.
export function operations(doc = description()) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of METHODS) if (item[method]) out.push({ method: method.toUpperCase(), path, operation: item[method] });
  return out;
}

// ---- matching request paths to operations ----

let matchers = null;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function buildMatchers() {
  const list = operations().map((op) => {
    const literal = op.path.replace(/\{[^}]+\}/g, '').length;
    const source = op.path.split(/(\{[^}]+\})/).map((part) => (part.startsWith('{') ? '[^/]+' : escapeRegExp(part))).join('');
    return { ...op, regex: new RegExp(`^${source}$`), literal };
  });
  // The most specific template first (most literal characters), as a router would pick.
  return list.sort((a, b) => b.literal - a.literal);
}

// The operation of `method` on the request path `pathWithQuery` (percent-encoded, as sent),
// or null when the description has none.
export function matchOperation(method, pathWithQuery) {
  matchers ??= buildMatchers();
  const path = pathWithQuery.split('?')[0].split('#')[0];
  const upper = method.toUpperCase();
  return matchers.find((m) => m.method === upper && m.regex.test(path)) ?? null;
}

// ---- validation ----

let ajv = null;
const validators = new Map();
const SCHEMA_ID = 'https://voxelgate.invalid/openapi.json';
const SCHEMA_KEYS_WITH_SCHEMA = ['items', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems'];
const SCHEMA_KEYS_WITH_LISTS = ['oneOf', 'anyOf', 'allOf', 'prefixItems'];
const SCHEMA_KEYS_WITH_MAPS = ['properties', 'patternProperties', '$defs', 'dependentSchemas'];

// Closes the object schemas under `schema` (see the top of this file), in place.
function close(schema) {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return;
  if (schema.properties && !('additionalProperties' in schema) && !('unevaluatedProperties' in schema))
    schema.additionalProperties = false;
  for (const key of SCHEMA_KEYS_WITH_SCHEMA) close(schema[key]);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') close(schema.additionalProperties);
  for (const key of SCHEMA_KEYS_WITH_LISTS) for (const sub of schema[key] ?? []) close(sub);
  for (const key of SCHEMA_KEYS_WITH_MAPS) for (const sub of Object.values(schema[key] ?? {})) close(sub);
}

function closedDescription() {
  const doc = structuredClone(description());
  for (const schema of Object.values(doc.components?.schemas ?? {})) close(schema);
  for (const item of Object.values(doc.paths ?? {}))
    for (const method of METHODS)
      for (const response of Object.values(item[method]?.responses ?? {}))
        for (const media of Object.values(response.content ?? {})) close(media.schema);
  for (const response of Object.values(doc.components?.responses ?? {}))
    for (const media of Object.values(response.content ?? {})) close(media.schema);
  doc.$id = SCHEMA_ID;
  return doc;
}

function getAjv() {
  if (!ajv) {
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(ajv);
    ajv.addFormat('password', true);
    ajv.addSchema(closedDescription());
  }
  return ajv;
}

const pointerPart = (text) => text.replace(/~/g, '~0').replace(/\//g, '~1');

// The response object for `status` ({$ref} resolved), or null.
function responseFor(operation, status) {
  let response = operation.responses?.[String(status)] ?? operation.responses?.[`${String(status)[0]}XX`] ?? null;
  if (response?.$ref) response = response.$ref.split('/').slice(1).reduce((node, key) => node?.[key], description());
  return response;
}

const baseType = (mediaType) => String(mediaType ?? '').split(';')[0].trim().toLowerCase();
const isJson = (mediaType) => {
  const type = baseType(mediaType);
  return type === 'application/json' || type.endsWith('+json');
};

// Checks one answer; returns null when it is described, else a message saying why not.
export function describeMismatch({ method, path, status, headers = {}, body }) {
  if (status < 200 || status > 299) return null;
  const match = matchOperation(method, path);
  if (!match) return null;
  const name = `${match.method} ${match.path} (${match.operation.operationId ?? 'no operationId'})`;
  const response = responseFor(match.operation, status);
  if (!response) return `${name} answered ${status}, a status docs/openapi.json does not describe for it`;
  const contentType = headers['content-type'];
  const length = body?.length ?? 0;
  if (!contentType) {
    if (length === 0) return null;
    return `${name} answered ${status} with a body but no Content-Type`;
  }
  const entry = Object.entries(response.content ?? {}).find(([media]) => baseType(media) === baseType(contentType));
  if (!entry) {
    const described = Object.keys(response.content ?? {}).join(', ') || 'no body';
    return `${name} answered ${status} ${baseType(contentType)}; docs/openapi.json describes ${described}`;
  }
  if (!isJson(contentType)) return null;
  let value;
  try {
    value = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : String(body));
  } catch (e) {
    return `${name} answered ${status} ${baseType(contentType)} that is not JSON: ${e.message}`;
  }
  const pointer = `#/paths/${pointerPart(match.path)}/${match.method.toLowerCase()}/responses/${pointerPart(String(status))}`;
  const key = `${pointer}/content/${pointerPart(entry[0])}/schema`;
  let validate = validators.get(key);
  if (!validate) {
    // Through $ref to the (closed) description: its own $refs resolve within it.
    const responseRef = match.operation.responses?.[String(status)]?.$ref;
    const target = responseRef
      ? `${SCHEMA_ID}${responseRef}/content/${pointerPart(entry[0])}/schema`
      : `${SCHEMA_ID}${key}`;
    validate = getAjv().compile({ $ref: target });
    validators.set(key, validate);
  }
  if (validate(value)) return null;
  const errors = validate.errors
    .slice(0, 8)
    .map((e) => {
      const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : '';
      return `  at ${e.instancePath || '/'}: ${e.message}${extra} (schema ${e.schemaPath.replace(SCHEMA_ID, '')})`;
    })
    .join('\n');
  const sample = JSON.stringify(value).slice(0, 600);
  return `${name} answered ${status} JSON that does not match docs/openapi.json:\n${errors}\nanswer: ${sample}`;
}

// Every mismatch seen in this process: if a test swallowed the error (an expected
// rejection, a retry loop), the process still fails at its end.
const mismatches = [];
process.on('exit', () => {
  if (!mismatches.length) return;
  process.stderr.write(`\n${mismatches.length} answer(s) did not match docs/openapi.json:\n${mismatches.join('\n\n')}\n`);
  process.exitCode = 1;
});

export class DescriptionMismatch extends Error {}

// Throws DescriptionMismatch when the answer is not what the description says.
export function checkAnswer(answer) {
  const problem = describeMismatch(answer);
  if (!problem) return;
  mismatches.push(problem);
  throw new DescriptionMismatch(problem);
}
