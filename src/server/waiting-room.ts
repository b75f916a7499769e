import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenFailure } from './listen-error.js';

/**
 * What answers on the port while the server cannot start yet (its database unreachable): the
 * process is alive (`/healthz` 200), not ready (`/readyz` 503 with the reason), and every other
 * request gets 503 in the error model, so a load balancer or Kubernetes keeps it out of
 * rotation without restarting it, and callers see why. Plain node:http: nothing here may need
 * what is missing.
 */
export interface WaitingRoom {
  setReason(reason: string): void;
  close(): Promise<void>;
}

export async function openWaitingRoom(host: string, port: number, reason: string): Promise<WaitingRoom> {
  let why = reason;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return send(200, { ok: true, service: 'modelgate', timestamp: new Date().toISOString(), starting: why });
    if (path === '/readyz' || path === '/ready') return send(503, { ready: false, reasons: [why] });
    if (path === '/health') return send(200, { status: 'degraded', model_loaded: false, models: [], reasons: [why] });
    return send(503, { error: { code: 'UNAVAILABLE', message: `modelgate is starting: ${why}`, request_id: req.headers['x-request-id'] ?? randomUUID() } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(listenFailure(e, host, port)));
    server.listen(port, host, () => resolve());
  });
  return {
    setReason: (r) => {
      why = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
