import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const row = rowPayload(demoModel().holdout.data, 0);

/**
 * What bytes a body arrives in. JSON is UTF-8 (RFC 8259); a Latin-1 or Windows-1252 client's "é"
 * is one byte that UTF-8 decoding turned into U+FFFD, so a category reached the model, the
 * warnings and the audit log as "R\uFFFDsort Hotel" and the request was answered 200.
 */
describe('request bodies that are not UTF-8', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ dialect: 'sqlite', jobs: false });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const send = (url: string, body: Buffer, contentType = 'application/json') =>
    s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType }, payload: body });
  const inferBody = (hotel: string, eventId: string) => JSON.stringify({ model: 'hotel', event_id: eventId, payload: { ...row, hotel } });
  const audited = async (eventId: string) => {
    await s.audit.flush();
    const r = await s.app.inject({ method: 'GET', url: `/v1/predictions?model=hotel&event_id=${eventId}`, headers: { authorization: `Bearer ${TOKEN}` } });
    return (r.json() as { predictions: { features: Record<string, unknown> }[] }).predictions;
  };

  it('a Latin-1 body is refused with what to do, with or without a charset saying so, and nothing is audited', async () => {
    const plain = await send('/v1/infer', Buffer.from(inferBody('Résort Hotel', 'latin-1'), 'latin1'));
    expect(plain.statusCode).toBe(400);
    expect(plain.json().error).toMatchObject({
      code: 'BAD_REQUEST',
      message: "the body's bytes are not UTF-8: Latin-1, Windows-1252 or UTF-16 text? JSON is read as UTF-8 (RFC 8259); encode the body as UTF-8",
    });
    const said = await send('/v1/infer', Buffer.from(inferBody('Résort Hotel', 'latin-1-said'), 'latin1'), 'application/json; charset=ISO-8859-1');
    expect(said.statusCode).toBe(400);
    expect(said.json().error.message).toMatch(/^the body's bytes are not UTF-8 \(it says charset=ISO-8859-1\): /);
    const utf16 = await send('/v1/infer', Buffer.from(`\ufeff${inferBody('City Hotel', 'utf-16')}`, 'utf16le'));
    expect(utf16.statusCode).toBe(400);
    expect(utf16.json().error.message).toMatch(/^the body's bytes are not UTF-8/);
    const batch = await send('/v1/models/hotel/predict', Buffer.from(JSON.stringify({ instances: [{ ...row, hotel: 'Résort Hotel' }] }), 'latin1'));
    expect(batch.statusCode).toBe(400);
    expect(batch.json().error.message).toMatch(/^the body's bytes are not UTF-8/);
    expect(await audited('latin-1')).toEqual([]);
    expect(await audited('latin-1-said')).toEqual([]);
  });

  it('UTF-8 is taken as before: accents, a real U+FFFD in a value, an ASCII body under a Latin-1 charset, a byte order mark', async () => {
    const accents = await send('/v1/infer', Buffer.from(inferBody('Résort Hotel', 'utf-8'), 'utf8'));
    expect(accents.statusCode, accents.body).toBe(200);
    expect((await audited('utf-8'))[0].features.hotel).toBe('Résort Hotel');
    // The replacement character sent on purpose, as its three UTF-8 bytes: nothing was replaced.
    const replacement = await send('/v1/infer', Buffer.from(inferBody('Hotel \ufffd', 'replacement'), 'utf8'));
    expect(replacement.statusCode, replacement.body).toBe(200);
    expect((await audited('replacement'))[0].features.hotel).toBe('Hotel \ufffd');
    const ascii = await send('/v1/infer', Buffer.from(inferBody('City Hotel', 'ascii-latin-1'), 'latin1'), 'application/json; charset=iso-8859-1');
    expect(ascii.statusCode, ascii.body).toBe(200);
    // Notepad's and PowerShell's UTF-8 files start with a byte order mark (before: "malformed JSON body: it is not valid JSON").
    const bom = await send('/v1/infer', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(inferBody('City Hotel', 'bom'))]));
    expect(bom.statusCode, bom.body).toBe(200);
    expect(bom.json().score).toBe(ascii.json().score);
    expect((await audited('bom'))[0].features).toEqual({ ...row, hotel: 'City Hotel' });
  });

  it('the Open Inference Protocol refuses a Latin-1 body in its own error shape', async () => {
    const body = { inputs: [{ name: 'hotel', datatype: 'BYTES', shape: [1], data: ['Résort Hotel'] }] };
    const r = await send('/v2/models/hotel/infer', Buffer.from(JSON.stringify(body), 'latin1'));
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatch(/^the body's bytes are not UTF-8: /);
  });
});
