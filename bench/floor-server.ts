import http from 'node:http';
import { floorReply } from './floor-model.js';

/**
 * The floor of any design: bare node:http plus only what cannot be skipped (bench/floor-model.ts:
 * the encoder, the batcher, the compiled model, a reply of the same size with an id). No
 * framework, auth, rate limit, cache, audit, metrics or logging. What modelgate reaches against
 * this is what its features cost; what this reaches against bare node:http is what the model
 * itself costs.
 */
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload: Record<string, unknown> };
    floorReply(body.payload).then(
      (reply) => {
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
