import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** What a request answered before its body was read may still send before its connection is closed. */
export interface DrainLimits {
  bytes: number;
  ms: number;
  /** While true (shutdown), such a connection closes at once as every other does. */
  draining: () => boolean;
}

/** The request's body is still arriving on a real connection (app.inject's requests have neither). */
const bodyStillArriving = (req: IncomingMessage): boolean => req.complete === false && req.socket instanceof Socket;

/**
 * Some answers go out while the request's body is still arriving: a 413 (over
 * BODY_LIMIT_BYTES), a 401 or 429 decided from the headers, a 404 for an unknown route. If the
 * connection is then closed — Fastify asks for that after a 413, and Node does it after any
 * answer to a client that said `Connection: close` (Python's urllib, HTTP/1.0) — data still
 * arrives at a closed socket: the client's next write fails (EPIPE), or the reset makes its
 * kernel discard the unread answer, so it never learns why. Like nginx's lingering close, keep
 * reading and discarding, so the client finishes its write and reads the answer, but only up to
 * `bytes` or `ms`, then close: an endless body must not hold a connection or the bandwidth. A
 * body that ends within the bound leaves the connection usable, unless the client asked to
 * close it: then it is closed gracefully once the body has been read.
 * The two halves run inside the app's one onSend and one onResponse hook (app.ts).
 */
export function unreadBodyDrain(limits: DrainLimits) {
  /** Answered requests whose client asked to close the connection: closed once their body is read. */
  const closeAfterBody = new WeakSet<IncomingMessage>();
  /** How many are in closeAfterBody: while none, a finished request costs no lookup. */
  let marked = 0;
  return {
    /** onSend: an answer whose request body is still arriving keeps its connection open for now. */
    beforeSend(request: FastifyRequest, reply: FastifyReply): void {
      if (!bodyStillArriving(request.raw) || limits.draining()) return;
      reply.removeHeader('connection');
      if (!reply.raw.shouldKeepAlive) {
        closeAfterBody.add(request.raw);
        marked++;
        reply.raw.shouldKeepAlive = true;
      }
    },
    /** onResponse: read on and discard the rest of the body, within the limits, then close or keep the connection. */
    afterResponse(request: FastifyRequest): void {
      const req = request.raw;
      const socket = req.socket;
      const closeWhenRead = marked > 0 && closeAfterBody.delete(req);
      if (closeWhenRead) marked--;
      else if (!bodyStillArriving(req)) return;
      if (socket.destroyed) return;
      // Everything the client sent has been read: closing now sends no reset.
      if (req.complete) {
        socket.end();
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
