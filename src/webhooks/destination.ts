import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { AppError, errorMessage } from '../lib/errors.js';

/** Address ranges a webhook may not reach unless WEBHOOK_ALLOW_PRIVATE=on, each with what it is. */
const RANGES: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'this network'],
  ['10.0.0.0', 8, 'ipv4', 'a private network'],
  ['100.64.0.0', 10, 'ipv4', 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata services live here)'],
  ['172.16.0.0', 12, 'ipv4', 'a private network'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'ipv4', 'a private network'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fc00::', 7, 'ipv6', 'a private network (unique local)'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

const lists = RANGES.map(([net, prefix, family, what]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return { list, label: `${net}/${prefix}, ${what}` };
});

/** The internal range an address is in (IPv4-mapped IPv6 counts as its IPv4), or undefined for a public address. */
export function internalRange(address: string): string | undefined {
  const family = isIP(address);
  if (!family) return undefined;
  const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  const [a, type] = mapped ? [mapped, 'ipv4' as const] : [address, family === 4 ? ('ipv4' as const) : ('ipv6' as const)];
  return lists.find((l) => l.list.check(a, type))?.label;
}

/**
 * Ports fetch refuses to connect to, failing each attempt with only "bad port" (the Fetch
 * standard's list, which Node's fetch follows): a subscription to one could never be delivered.
 */
export const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512,
  513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679,
  6697, 10080,
]);

export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Where a webhook URL's host leads, refused when it is (or resolves to) loopback, link-local,
 * private or otherwise internal: an admin able to add a subscription must not be able to make
 * the server call its own network (server-side request forgery). WEBHOOK_ALLOW_PRIVATE=on
 * lifts this for receivers on an internal network, as in tests.
 */
export async function checkDestination(url: URL, o: { allowPrivate: boolean; resolve: Resolver }): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await o.resolve(host);
    } catch (e) {
      throw new AppError('VALIDATION_FAILED', `url: the host ${host} does not resolve (${(e as Error).message}); check the name`, { field: 'url' });
    }
  }
  if (o.allowPrivate) return;
  for (const address of addresses) {
    const range = internalRange(address);
    if (range) {
      const via = address === host ? '' : ` (${host} resolves to ${address})`;
      throw new AppError('VALIDATION_FAILED', `url: ${address}${via} is in ${range}; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on`, {
        field: 'url',
      });
    }
  }
}

/**
 * Why this server would not deliver to `url` now (checkDestination's refusal in words), or
 * undefined when it would — or, with `withinMs`, when the name takes longer than that to resolve.
 */
export async function destinationRefusal(url: string, o: { allowPrivate: boolean; resolve: Resolver }, withinMs?: number): Promise<string | undefined> {
  const check = checkDestination(new URL(url), o).then(
    () => undefined,
    (e: unknown) => errorMessage(e),
  );
  if (withinMs === undefined) return check;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([check, new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), withinMs)))]).finally(() => clearTimeout(timer));
}
