import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** What a refused request may still send before its connection is closed. */
export interface DrainLimits {
  bytes: number;
  ms: number;
  /** While true (shutdown), a refused request's connection closes at once as every other does. */
  draining: () => boolean;
}

/**
 * After a 413 the client is usually still sending the body. Fastify answers with `connection:
 * close`, and the socket then closes while data still arrives: the client's next write fails
 * (EPIPE, or a reset that discards the unread answer), so it never learns why. Like nginx's
 * lingering close, keep reading and discarding — so the client finishes its write and reads
 * the 413 — but only up to `bytes` or `ms`, then close: an endless body must not hold a
 * connection or the bandwidth. A body that ends within the bound leaves the connection usable,
 * unless the client asked to close it (`Connection: close`, HTTP/1.0): Node would close such a
 * connection as soon as the answer is written, with the body still arriving, so it is kept open
 * here and closed gracefully once the body has been read.
 * The two halves run inside the app's one onSend and one onResponse hook (app.ts).
 */
export function oversizedBodyDrain(limits: DrainLimits) {
  /** Refused requests whose client asked to close the connection: closed once their body is read. */
  const closeAfterBody = new WeakSet<IncomingMessage>();
  return {
    /** onSend: a 413 whose body is still arriving keeps its connection open for now. */
    beforeSend(request: FastifyRequest, reply: FastifyReply): void {
      if (reply.statusCode !== 413 || request.raw.complete || limits.draining()) return;
      reply.removeHeader('connection');
      if (!reply.raw.shouldKeepAlive) {
        closeAfterBody.add(request.raw);
        reply.raw.shouldKeepAlive = true;
      }
    },
    /** onResponse: read on and discard the rest of a 413's body, within the limits, then close. */
    afterResponse(request: FastifyRequest, reply: FastifyReply): void {
      const req = request.raw;
      const socket = req.socket;
      if (reply.statusCode !== 413) return;
      const closeWhenRead = closeAfterBody.has(req);
      closeAfterBody.delete(req);
      if (socket.destroyed) return;
      // Everything the client sent has been read: closing now sends no reset.
      if (req.complete) {
        if (closeWhenRead) socket.end();
        return;
      }
      // Node discards the rest of a finished request's body inside its HTTP parser, where no
      // 'data' event counts it; the socket's byte count still moves.
      const start = socket.bytesRead;
      const started = Date.now();
      const check = setInterval(() => {
        if (socket.bytesRead - start > limits.bytes || Date.now() - started > limits.ms) stop('destroy');
      }, 25);
      check.unref();
      const stop = (then: 'destroy' | 'end' | 'keep') => {
        clearInterval(check);
        req.off('end', ended);
        socket.off('close', gone);
        if (then === 'destroy') socket.destroy();
        else if (then === 'end') socket.end();
      };
      const ended = () => stop(closeWhenRead ? 'end' : 'keep');
      const gone = () => stop('keep');
      req.once('end', ended);
      socket.once('close', gone);
      req.resume();
    },
  };
}
