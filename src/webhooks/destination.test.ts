import { describe, expect, it } from 'vitest';
import { checkDestination, FETCH_BAD_PORTS, internalRange } from './destination.js';

describe('webhook destinations', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.10', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /carrier-grade/],
    ['0.0.0.0', /this network/],
    ['224.0.0.1', /multicast/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fd12:3456::1', /unique local/],
    ['fe80::1', /link-local/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:10.0.0.1', /private/],
  ])('%s is internal', (ip, what) => {
    expect(internalRange(ip)).toMatch(what);
  });

  it.each(['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '100.128.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8', 'not-an-ip'])('%s is not', (ip) => {
    expect(internalRange(ip)).toBeUndefined();
  });

  const publicOnly = async () => ['93.184.216.34'];
  it('refuses an internal literal address, and a name that resolves to one (any of its addresses), saying how to allow it', async () => {
    await expect(checkDestination(new URL('http://127.0.0.1:9000/hook'), { allowPrivate: false, resolve: publicOnly })).rejects.toThrow(
      /127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback.*WEBHOOK_ALLOW_PRIVATE=on/,
    );
    await expect(checkDestination(new URL('http://[::1]/hook'), { allowPrivate: false, resolve: publicOnly })).rejects.toThrow(/::1 is in ::1\/128/);
    const rebinding = async () => ['93.184.216.34', '169.254.169.254'];
    await expect(checkDestination(new URL('https://hooks.example.com/x'), { allowPrivate: false, resolve: rebinding })).rejects.toThrow(
      /hooks\.example\.com resolves to 169\.254\.169\.254\) is in 169\.254\.0\.0\/16, link-local/,
    );
  });

  it('allows public addresses, and internal ones when WEBHOOK_ALLOW_PRIVATE is on', async () => {
    await expect(checkDestination(new URL('https://hooks.example.com/x'), { allowPrivate: false, resolve: publicOnly })).resolves.toBeUndefined();
    await expect(checkDestination(new URL('http://127.0.0.1:9000/hook'), { allowPrivate: true, resolve: publicOnly })).resolves.toBeUndefined();
  });

  it('a name that does not resolve is refused with the reason', async () => {
    const fail = async () => {
      throw new Error('getaddrinfo ENOTFOUND nowhere.invalid');
    };
    await expect(checkDestination(new URL('https://nowhere.invalid/x'), { allowPrivate: true, resolve: fail })).rejects.toThrow(/does not resolve \(getaddrinfo ENOTFOUND/);
  });

  it("lists exactly the ports Node's fetch refuses: each listed one fails with bad port, its unlisted neighbours do not", async () => {
    const reason = async (port: number) => {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
        return 'answered';
      } catch (e) {
        return String((e as { cause?: Error }).cause?.message ?? e);
      }
    };
    const listed = [...FETCH_BAD_PORTS];
    expect(await Promise.all(listed.map(reason))).toEqual(listed.map(() => 'bad port'));
    // Nothing listens on these on loopback, so each fails to connect; none is refused before trying.
    const neighbours = [...new Set(listed.flatMap((p) => [p - 1, p + 1]))].filter((p) => p > 0 && !FETCH_BAD_PORTS.has(p));
    const others = await Promise.all(neighbours.map(reason));
    expect(neighbours.filter((_, i) => others[i] === 'bad port')).toEqual([]);
  });
});
