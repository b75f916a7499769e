import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './db.js';

export interface TestCerts {
  /** The CA's certificate: what a client names to trust the server. */
  ca: string;
  /** The CA's private key, to issue more certificates (issueClientCert). */
  caKey: string;
  cert: string;
  key: string;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', timeout: 30_000 });

/**
 * A throwaway CA and a server certificate it signed for the given names (openssl, as an
 * operator's private CA would issue one), in a directory of their own.
 */
export function makeCerts(names: string[]): TestCerts {
  const dir = tempDir('modelgate-certs-');
  const at = (f: string) => path.join(dir, f);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', '/CN=modelgate test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', `/CN=${names[0]}`]);
  writeFileSync(at('ext.cnf'), `subjectAltName=${names.join(',')}\n`);
  openssl(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('ext.cnf')]);
  return { ca: at('ca.pem'), caKey: at('ca.key'), cert: at('server.pem'), key: at('server.key') };
}

/** A client certificate for `commonName` (PostgreSQL's cert authentication reads the user from it), signed by the CA. */
export function issueClientCert(certs: TestCerts, commonName: string): { cert: string; key: string } {
  const dir = tempDir('modelgate-client-cert-');
  const at = (f: string) => path.join(dir, f);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('client.key'), '-out', at('client.csr'), '-subj', `/CN=${commonName}`]);
  openssl(['x509', '-req', '-in', at('client.csr'), '-CA', certs.ca, '-CAkey', certs.caKey, '-CAcreateserial', '-CAserial', at('ca.srl'), '-out', at('client.pem'), '-days', '2']);
  return { cert: at('client.pem'), key: at('client.key') };
}
