// multipart/related bodies (RFC 2387) as PS3.18 uses them: building STOW-RS requests and
// splitting WADO-RS responses.
import { randomBytes } from 'node:crypto';

export function newBoundary() {
  return `vxg-${randomBytes(12).toString('hex')}`;
}

export function partHeader(boundary, contentType = 'application/dicom') {
  return Buffer.from(`--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`, 'latin1');
}

export function closingDelimiter(boundary) {
  return Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

export const CRLF = Buffer.from('\r\n', 'latin1');

// The Content-Type of a STOW-RS request; `quoted` quotes the boundary parameter.
export function stowContentType(boundary, { quoted = false } = {}) {
  const b = quoted ? `"${boundary}"` : boundary;
  return `multipart/related; type="application/dicom"; boundary=${b}`;
}

// Builds a whole multipart/related body from buffers. Returns {body, contentType, boundary}.
export function multipartBody(parts, { boundary = newBoundary(), partType = 'application/dicom', quoted = false } = {}) {
  const chunks = [];
  for (const p of parts) chunks.push(partHeader(boundary, partType), p, CRLF);
  chunks.push(closingDelimiter(boundary));
  return { body: Buffer.concat(chunks), contentType: stowContentType(boundary, { quoted }), boundary };
}

// Exact byte length of multipartBody(parts of the given sizes).
export function multipartLength(sizes, boundary, partType = 'application/dicom') {
  const h = partHeader(boundary, partType).length;
  return sizes.reduce((n, s) => n + h + s + 2, 0) + closingDelimiter(boundary).length;
}

// Parses the parameters of a Content-Type value: {type, params}; names lowercased.
export function parseContentType(value) {
  if (!value) return { type: '', params: {} };
  const [type, ...rest] = splitOutsideQuotes(value, ';');
  const params = {};
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i < 0) continue;
    let v = p.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[p.slice(0, i).trim().toLowerCase()] = v;
  }
  return { type: type.trim().toLowerCase(), params };
}

function splitOutsideQuotes(s, sep) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

// Splits a multipart body. Returns [{headers: {lowercased name: value}, body: Buffer}].
// Throws when the body does not follow RFC 2046 (no delimiter, no closing delimiter).
export function parseMultipart(body, contentTypeHeader) {
  const { type, params } = parseContentType(contentTypeHeader);
  if (type !== 'multipart/related') throw new Error(`expected multipart/related, got '${contentTypeHeader}'`);
  if (!params.boundary) throw new Error(`no boundary in '${contentTypeHeader}'`);
  const delim = Buffer.from(`--${params.boundary}`, 'latin1');
  let pos = body.indexOf(delim);
  if (pos !== 0 && !(pos > 1 && body[pos - 2] === 13 && body[pos - 1] === 10)) {
    throw new Error('multipart body does not start with a boundary delimiter');
  }
  const parts = [];
  const crlfDelim = Buffer.concat([CRLF, delim]);
  for (;;) {
    let p = pos + delim.length;
    if (body[p] === 45 && body[p + 1] === 45) return parts; // closing delimiter "--"
    // Skip transport padding and the CRLF ending the delimiter line.
    while (body[p] === 32 || body[p] === 9) p++;
    if (body[p] !== 13 || body[p + 1] !== 10) throw new Error(`bad delimiter line at ${pos}`);
    p += 2;
    const headerEnd = body.indexOf('\r\n\r\n', p, 'latin1');
    const headers = {};
    let contentStart;
    if (body[p] === 13 && body[p + 1] === 10) {
      contentStart = p + 2; // no headers
    } else {
      if (headerEnd < 0) throw new Error('part headers not terminated');
      for (const line of body.toString('latin1', p, headerEnd).split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      contentStart = headerEnd + 4;
    }
    const next = body.indexOf(crlfDelim, contentStart);
    if (next < 0) throw new Error('multipart body has no closing delimiter');
    parts.push({ headers, body: body.subarray(contentStart, next) });
    pos = next + 2;
  }
}
