import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { seededRandom } from '../training/random.js';
import { payloadText } from './payload-text.js';

const telco = (JSON.parse(readFileSync(new URL('../../test/fixtures/telco_gbdt.expected.json', import.meta.url), 'utf8')) as { rows: Record<string, unknown>[] }).rows;

const cut = (text: string) => payloadText(text, JSON.parse(text) as object);

/** A random JSON value: nested objects and arrays, strings with quotes, backslashes, non-ASCII and spaces, numbers of every size. */
function randomValue(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 2 ? 5 : 7));
  const strings = ['', 'a b', 'quote " in', 'back \\ slash', 'ends with \\', '"', '}', '{"payload":1}', 'tab\there', 'line\nbreak', 'naïve 漢字 ✓', 'payload'];
  switch (pick) {
    case 0:
      return strings[Math.floor(rand() * strings.length)];
    case 1:
      return [0, -1.5, 1e21, 5e-324, 123456789012345, 0.1 + 0.2, -2e-7][Math.floor(rand() * 7)];
    case 2:
      return rand() < 0.5;
    case 3:
      return null;
    case 4:
      return Math.round(rand() * 1e6) / 1e3;
    case 5:
      return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
    default:
      return randomObject(rand, depth + 1);
  }
}

function randomObject(rand: () => number, depth: number): Record<string, unknown> {
  const keys = ['a', 'b c', 'x"y', 'k\\', 'payload_', 'model', 'ü', '}{', 'p'];
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[keys[Math.floor(rand() * keys.length)] + i] = randomValue(rand, depth);
  return o;
}

/** JSON text with random whitespace between tokens, as other serializers (and people) write it. */
function spaced(value: unknown, rand: () => number): string {
  const ws = () => [' ', '', '\n  ', '\t', '\r\n', '  '][Math.floor(rand() * 6)];
  if (Array.isArray(value)) return `[${ws()}${value.map((v) => spaced(v, rand)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (value && typeof value === 'object')
    return `{${ws()}${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(v, rand)}`)
      .join(`${ws()},${ws()}`)}${ws()}}`;
  return JSON.stringify(value);
}

describe('payloadText: the features text cut out of a request body', () => {
  it('is exactly JSON.stringify(payload) for a body JSON.stringify wrote, whatever the values', () => {
    const rand = seededRandom(19);
    for (const row of telco) {
      const text = JSON.stringify({ model: 'churn', payload: { ...row, MonthlyCharges: 18 + rand() * 100 } });
      expect(cut(text)).toBe(JSON.stringify((JSON.parse(text) as { payload: unknown }).payload));
    }
    let declined = 0;
    for (let i = 0; i < 500; i++) {
      const body = { model: 'm', event_id: 'e"1', payload: randomObject(rand, 0) };
      const text = JSON.stringify(body);
      // A value that is the string "payload" spells the key a second time: declined, by design.
      if (text.split('"payload"').length > 2) {
        declined++;
        expect(cut(text)).toBeUndefined();
      } else expect(cut(text)).toBe(JSON.stringify(body.payload));
    }
    expect(declined).toBeLessThan(100);
  });

  it('keeps the client spelling of numbers, and its spaces unless line breaks or tabs come between tokens (then all such whitespace goes), and means the same values', () => {
    const text = '{ "model" : "churn",\n  "payload" : {\n\t"MonthlyCharges": 56.10, "tenure" :1e1,\r\n "PaymentMethod": "Bank transfer (automatic)", "Note": "a\\tb"\n }\n}\n';
    const got = cut(text)!;
    expect(got).toBe('{"MonthlyCharges":56.10,"tenure":1e1,"PaymentMethod":"Bank transfer (automatic)","Note":"a\\tb"}');
    expect(cut('{"model": "churn", "payload": {"MonthlyCharges": 56.10, "PaymentMethod": "Bank transfer (automatic)"}}')).toBe(
      '{"MonthlyCharges": 56.10, "PaymentMethod": "Bank transfer (automatic)"}',
    );
    expect(JSON.parse(got)).toEqual({ MonthlyCharges: 56.1, tenure: 10, PaymentMethod: 'Bank transfer (automatic)', Note: 'a\tb' });
    const rand = seededRandom(7);
    for (let i = 0; i < 500; i++) {
      const payload = randomObject(rand, 0);
      const body = spaced({ model: 'm', payload }, rand);
      const features = cut(body);
      if (body.split('"payload"').length > 2) {
        expect(features).toBeUndefined();
        continue;
      }
      expect(JSON.parse(features!)).toEqual(payload);
      expect(features).not.toMatch(/[\n\r\t]/);
    }
  });

  it('declines, for the caller to stringify the parsed payload, when the plain shape does not hold', () => {
    const declined = [
      // payload not the last member
      '{"payload":{"a":1},"model":"m"}',
      '{"payload":{"a":1},"extra":{"b":2}}',
      // a repeated key: JSON.parse keeps the last one
      '{"payload":{"a":1},"payload":{"a":2}}',
      // "payload" as a value too
      '{"model":"payload","payload":{"a":1}}',
      '{"model":"m","payload":{"note":"payload"}}',
      // a key spelled with an escape, and any \\u at all
      '{"p\\u0061yload":{"a":1}}',
      '{"model":"m","payload":{"a":"\\u00e9"}}',
      // an array-index key, which JSON.parse puts first
      '{"model":"m","payload":{"a":1},"0":{"b":2}}',
    ];
    for (const text of declined) expect(cut(text), text).toBeUndefined();
  });

  it('whatever it returns means the payload JSON.parse found, for random bodies of every shape', () => {
    const rand = seededRandom(23);
    let cutCount = 0;
    for (let i = 0; i < 3000; i++) {
      const members: [string, unknown][] = [
        ['model', 'm'],
        ['payload', randomObject(rand, 0)],
      ];
      if (rand() < 0.3) members.push(['payload', randomObject(rand, 0)]);
      if (rand() < 0.3) members.push([['extra', '0', 'event_id'][Math.floor(rand() * 3)], randomValue(rand, 1)]);
      if (rand() < 0.3) members.reverse();
      const edge = () => (rand() < 0.5 ? '' : ' \n');
      const text = `${edge()}{${members.map(([k, v]) => `${JSON.stringify(k)}:${rand() < 0.5 ? JSON.stringify(v) : spaced(v, rand)}`).join(',')}}${edge()}`;
      const body = JSON.parse(text) as { payload: unknown };
      const features = payloadText(text, body);
      if (features === undefined) continue;
      cutCount++;
      expect(JSON.parse(features), text).toEqual(body.payload);
    }
    // About a third of these bodies have the plain shape; the check above must have had work to do.
    expect(cutCount).toBeGreaterThan(500);
  });
});
