// The console's one way to the server: the same HTTP API and scope checks as the CLI, with the
// token pasted at sign-in sent as a bearer token. No cookies, so there is nothing to forge.

const TOKEN_KEY = 'modelgate.token';

export const storedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const storeToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** An answer in the server's error model: {"error": {"code", "message", "details"?, "request_id"}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The server could not be reached at all (restarting, network down). */
export class ConnectionLost extends Error {}

type Listener = (online: boolean) => void;
const listeners = new Set<Listener>();
let online = true;
/** Be told when the server stops answering and when it answers again. */
export function onConnection(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
function setOnline(v: boolean): void {
  if (v === online) return;
  online = v;
  for (const l of listeners) l(v);
}

let unauthorized: (message: string) => void = () => undefined;
/** What to do when the token stops working (revoked, rotated, server restarted with another admin token). */
export const onUnauthorized = (f: (message: string) => void): void => {
  unauthorized = f;
};

async function request(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const token = init.token ?? storedToken();
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  // A form sets its own content type, with the multipart boundary.
  if (init.body !== undefined && !(init.body instanceof FormData)) headers.set('content-type', 'application/json');
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, cache: 'no-store' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    setOnline(false);
    throw new ConnectionLost('the server is not answering; the page retries on its own');
  }
  setOnline(true);
  if (res.ok) return res;
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not the error model (a proxy's page): the status says enough.
  }
  const message = body.error?.message ?? `${res.status} ${res.statusText}`;
  const err = new ApiError(res.status, body.error?.code ?? String(res.status), message, body.error?.details ?? {});
  if (res.status === 401 && !init.token) unauthorized(message);
  throw err;
}

export async function get<T>(path: string, init: { signal?: AbortSignal; token?: string } = {}): Promise<T> {
  return (await request(path, init)).json() as Promise<T>;
}

export async function getText(path: string): Promise<string> {
  return (await request(path)).text();
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return (await request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<T>;
}

/** A multipart form (a file upload), as curl -F sends it. */
export async function postForm<T>(path: string, form: FormData): Promise<T> {
  return (await request(path, { method: 'POST', body: form })).json() as Promise<T>;
}

export async function put<T>(path: string, body: unknown = {}): Promise<T> {
  return (await request(path, { method: 'PUT', body: JSON.stringify(body) })).json() as Promise<T>;
}

export async function del<T>(path: string): Promise<T> {
  return (await request(path, { method: 'DELETE' })).json() as Promise<T>;
}

/** Whether the server answers at all (the public health check, no token). */
export async function serverUp(): Promise<boolean> {
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    setOnline(true);
    return res.ok;
  } catch {
    setOnline(false);
    return false;
  }
}

export const q = (params: Record<string, string | number | undefined | null>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
};

export const enc = encodeURIComponent;
