import http from 'node:http';

/**
 * The baseline: a bare node:http server that reads and parses the same JSON request and
 * answers a JSON body of the same size as modelgate's reply, with no framework, no model.
 */
const size = Number(process.env.REPLY_BYTES ?? 200);
const base = { prediction_id: '00000000-0000-4000-8000-000000000000', model: 'hotel-cancel', version: 1, alias: 'production', score: 0.5, decision: 'act', pad: '' };
const pad = Math.max(0, size - JSON.stringify(base).length);
const reply = JSON.stringify({ ...base, pad: 'x'.repeat(pad) });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(reply) });
    res.end(reply);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${addr.port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
