import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Policy {
  /** No s3:ListBucket: a GET of a key that does not exist gets 403 AccessDenied, not 404 NoSuchKey (as AWS S3 answers). */
  noList?: boolean;
  /** No s3:PutObject: every PUT gets 403 AccessDenied. */
  noPut?: boolean;
  /** The refusal's Message, where AWS says more than "Access Denied" (which identity, a KMS key's refusal). */
  message?: string;
}

const denied = (message = 'Access Denied') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${message}</Message><RequestId>0000000000000000</RequestId><HostId>proxy</HostId></Error>`;

/**
 * An HTTP proxy in front of s3rver (which checks no permissions) that answers as AWS S3 answers an
 * identity whose IAM policy lacks a permission, so the code meets S3's real refusals: the XML body
 * and status AWS sends for them (GetObject's documentation: "If you don't have the s3:ListBucket
 * permission, Amazon S3 returns an HTTP status code 403 Access Denied error" for a missing key).
 */
export async function s3PolicyProxy(upstream: string, policy: S3Policy): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const target = new URL(upstream);
  const deny = (res: http.ServerResponse) => {
    const body = denied(policy.message);
    res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    if (policy.noPut && req.method === 'PUT') {
      req.resume();
      req.on('end', () => deny(res));
      return;
    }
    const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      if (policy.noList && req.method === 'GET' && up.statusCode === 404 && !req.url!.split('?')[0]!.endsWith('/')) {
        // A missing bucket is still NoSuchBucket: only a missing key turns into a refusal.
        let body = '';
        up.setEncoding('utf8');
        up.on('data', (d: string) => (body += d));
        up.on('end', () => {
          if (/<Code>NoSuchKey<\/Code>/.test(body)) return deny(res);
          res.writeHead(404, up.headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
