import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenFailure } from './listen-error.js';
import { callerRequestId } from './request-id.js';

/**
 * What answers on the port while the server cannot start yet (its database unreachable): the
 * process is alive (`/healthz` 200), not ready (`/readyz` 503 with the reason), and every other
 * request gets 503 in the error model, so a load balancer or Kubernetes keeps it out of
 * rotation without restarting it, and callers see why. Plain node:http: nothing here may need
 * what is missing.
 */
export interface WaitingRoom {
  /** Why it cannot start, and in how many ms it tries again (the Retry-After its 503s carry). */
  setReason(reason: string, retryInMs: number): void;
  close(): Promise<void>;
}

export async function openWaitingRoom(host: string, port: number, reason: string, retryInMs: number): Promise<WaitingRoom> {
  let why = reason;
  let retryAt = Date.now() + retryInMs;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // As the server proper does: a caller's sane x-request-id is kept, so its trace joins up.
    const requestId = callerRequestId(req.headers['x-request-id']) ?? randomUUID();
    const send = (status: number, body: unknown) => {
      const retry = status === 503 ? { 'retry-after': String(Math.max(1, Math.ceil((retryAt - Date.now()) / 1000))) } : {};
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close', 'x-request-id': requestId, ...retry });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return send(200, { ok: true, service: 'modelgate', timestamp: new Date().toISOString(), starting: why });
    if (path === '/readyz' || path === '/ready') return send(503, { ready: false, reasons: [why] });
    if (path === '/health') return send(200, { status: 'degraded', model_loaded: false, models: [], reasons: [why] });
    return send(503, { error: { code: 'UNAVAILABLE', message: `modelgate is starting: ${why}`, request_id: requestId } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(listenFailure(e, host, port)));
    server.listen(port, host, () => resolve());
  });
  return {
    setReason: (r, ms) => {
      why = r;
      retryAt = Date.now() + ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
