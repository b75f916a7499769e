import Fastify from 'fastify';
import { floorReply } from './floor-model.js';

/**
 * The floor on Fastify: the same work as bench/floor-server.ts (bench/floor-model.ts) as one
 * Fastify route with Fastify's defaults — its router, body parser and reply, no hooks, no
 * schema, no logger. Against the node:http floor it is what the framework costs; modelgate
 * against it is what modelgate's own per-request work (auth, rate limit, validation, metrics,
 * ids, headers, the access log, the cache, the audit log) costs.
 */
const app = Fastify({ logger: false });
app.post('/v1/infer', async (request, reply) => {
  const text = await floorReply((request.body as { payload: Record<string, unknown> }).payload);
  return reply.type('application/json; charset=utf-8').send(text);
});
const url = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
