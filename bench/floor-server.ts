import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { defaultPolicy, deriveContract, inspectGraph, Servable } from '../src/inference/index.js';
import { root } from './harness.js';

/**
 * The floor of any design: bare node:http plus only what cannot be skipped — the payload
 * checked and encoded by modelgate's contract encoder, scored by the compiled engine, a reply of
 * the same size with an id. No framework, auth, rate limit, cache, audit, metrics or logging.
 * What modelgate reaches against this is what its features cost; what this reaches against
 * bare node:http is what the model itself costs.
 */
const size = Number(process.env.REPLY_BYTES ?? 200);
const bytes = readFileSync(path.join(root, 'test/fixtures/telco_gbdt.onnx'));
const { contract, output } = deriveContract(inspectGraph(bytes));
contract.missing_category = 'missing';
const servable = await Servable.load(
  bytes,
  { model: 'churn', version: 1, contract, output, policy: defaultPolicy('binary') },
  { intraOpThreads: 1, batch: { maxRows: 64, maxWaitUs: 0 }, engine: 'auto' },
);
if (servable.engineName !== 'compiled') throw new Error(`the floor server expects the compiled engine, got ${servable.engineName}`);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload: Record<string, unknown> };
    const { row } = servable.encoder.encode(body.payload, 'payload');
    servable.run([row]).then(
      ([o]) => {
        const base = { prediction_id: randomUUID(), model: 'churn', version: 1, arm: 'production', score: o.score, decision: servable.decide(o), cached: false, alias: 'production', pad: '' };
        const reply = JSON.stringify({ ...base, pad: 'x'.repeat(Math.max(0, size - JSON.stringify(base).length)) });
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(reply) });
        res.end(reply);
      },
      (e: Error) => {
        res.writeHead(500);
        res.end(e.message);
      },
    );
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${addr.port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
