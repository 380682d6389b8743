// The one place that talks HTTP to voxelgate: same-origin fetch with the session cookie,
// the CSRF token on unsafe methods, and errors as ApiError with the server's message.

const CSRF_KEY = 'vg.csrf';
const TENANT_KEY = 'vg.support-tenant';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
    readonly body: unknown = null, // the parsed JSON answer, where it says more than the error
  ) {
    super(message);
  }
}

export function setCsrfToken(token: string | null): void {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

export function csrfToken(): string | null {
  return sessionStorage.getItem(CSRF_KEY);
}

// Vendor support staff name the clinic whose data they read under a support grant.
export function setSupportTenant(slug: string | null): void {
  if (slug) sessionStorage.setItem(TENANT_KEY, slug);
  else sessionStorage.removeItem(TENANT_KEY);
}

export function supportTenant(): string | null {
  return sessionStorage.getItem(TENANT_KEY);
}

export function tenantHeaders(): Record<string, string> {
  const slug = supportTenant();
  return slug ? { 'X-Voxelgate-Tenant': slug } : {};
}

// Called when any request answers 401: the session ended (idle, signed out elsewhere).
let onUnauthenticated: (() => void) | null = null;
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn;
}

export function authHeaders(method: string): Record<string, string> {
  const h: Record<string, string> = tenantHeaders();
  const token = csrfToken();
  if (token && method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = token;
  return h;
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`.trim();
  let body: unknown = null;
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text);
      body = j;
      if (j?.error) {
        code = j.error.code ?? code;
        message = j.error.message ?? message;
      }
    } catch {
      if (text && text.length < 300) message = text;
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  if (res.status === 404 && code === `http_404`) message = 'not found';
  const ra = res.headers.get('Retry-After');
  return new ApiError(res.status, code, message, ra ? Number(ra) : null, body);
}

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  quiet401?: boolean; // do not treat 401 as a lost session (sign-in itself)
}

export async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders(method), ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !opts.quiet401) onUnauthenticated?.();
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request('GET', path, opts);
  return (await res.json()) as T;
}

export async function sendJson<T>(method: string, path: string, json: unknown, opts: RequestOptions = {}): Promise<T> {
  const res = await request(method, path, { ...opts, json });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const enc = encodeURIComponent;
