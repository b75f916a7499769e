import { AppError } from '../lib/errors.js';
import { urlHost } from '../lib/url-host.js';

/** Why a server could not listen on HOST:PORT, in words that say what to do instead of an errno. */
export function listenFailure(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `cannot listen on ${urlHost(host)}:${port}`;
  if (code === 'EADDRINUSE') return new AppError('CONFLICT', `${where}: another process (another modelgate?) already uses the port; stop it, or choose another port with PORT or --port`);
  if (code === 'EACCES')
    return new AppError('FORBIDDEN', `${where}: not allowed${port < 1024 ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''}; choose another port with PORT or --port`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return new AppError('BAD_REQUEST', `${where}: ${host} is not an address of this machine; set HOST to one of its addresses, :: or 0.0.0.0 for all of them, or 127.0.0.1`);
  if (code === 'EAFNOSUPPORT') return new AppError('BAD_REQUEST', `${where}: this system has no IPv6; set HOST=0.0.0.0 (every IPv4 address) or leave HOST unset`);
  return e;
}
