import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPolicy, deriveContract, inspectGraph, Servable } from '../src/inference/index.js';
import { root } from './harness.js';

/**
 * What every floor server does for a request (bench/floor-server.ts on node:http,
 * bench/floor-fastify-server.ts on Fastify): the payload checked and encoded by modelgate's
 * contract encoder, scored by the compiled engine through the micro-batcher modelgate serves
 * single rows with, and a reply of REPLY_BYTES with an id.
 *
 * Scored one request at a time instead (`servable.run` per request, as the floor did until the
 * seventh session) the node:http floor reached only 0.37–0.62 of bare: each reply went out the
 * moment its request was read, so nearly every reply woke the load generator on its own (ADR 5)
 * and the server's CPU per request doubled. Through the batcher it reaches 0.74–0.89.
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
if (servable.engineName !== 'compiled') throw new Error(`the floor servers expect the compiled engine, got ${servable.engineName}`);

/** The reply's JSON text for one request body's payload. */
export async function floorReply(payload: Record<string, unknown>): Promise<string> {
  const { row } = servable.encoder.encode(payload, 'payload');
  const o = await servable.scoreOne(row);
  const base = { prediction_id: randomUUID(), model: 'churn', version: 1, arm: 'production', score: o.score, decision: servable.decide(o), cached: false, alias: 'production', pad: '' };
  return JSON.stringify({ ...base, pad: 'x'.repeat(Math.max(0, size - JSON.stringify(base).length)) });
}
