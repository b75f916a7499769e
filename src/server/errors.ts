import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseProblem } from '../lib/json-text.js';
import { databaseUnavailable } from '../db/unavailable.js';
import { AppError, ERROR_STATUS, errorHeaders, logRequestError, type ErrorCode } from '../lib/errors.js';
import { routeMethods } from './route-methods.js';

/** JSON schema of every error body, referenced by route schemas for the OpenAPI document. */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
        request_id: { type: 'string' },
      },
      required: ['code', 'message', 'request_id'],
    },
  },
  required: ['error'],
} as const;

/** Array fields whose length limit is a setting, named when a request goes over it. */
const LIMIT_SETTINGS: Record<string, string> = { 'body.instances': 'PREDICT_MAX_INSTANCES' };

/** Fastify's own errors (body parsing, validation, limits) translated into the one error model. */
export function fromFastify(err: FastifyError, request?: { body?: unknown; query?: unknown; params?: unknown; headers?: Record<string, unknown> }): AppError {
  if (err.validation) {
    const first = err.validation[0];
    // "query", as the routes' own checks name it (Fastify says "querystring").
    const context = err.validationContext === 'querystring' ? 'query' : (err.validationContext ?? 'body');
    const path = `${context}${first?.instancePath ?? ''}`.replace(/\//g, '.');
    const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[]; limit?: number };
    const named = params.missingProperty ?? params.additionalProperty;
    const field = named ? `${path}.${named}` : path;
    // Ajv's own words name neither the unknown field nor the allowed values.
    const problem = params.missingProperty
      ? `is required${sentInstead(request, err.validationContext, first?.instancePath)}`
      : params.additionalProperty
        ? `is not a field this route takes in its ${context} (the OpenAPI document at /docs lists them)`
        : params.allowedValues
          ? `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
          : first?.keyword === 'maxItems' && LIMIT_SETTINGS[path]
            ? `more than ${params.limit} items; send at most ${LIMIT_SETTINGS[path]}=${params.limit} per request (split the rows over several requests, or score a file with modelgate score)`
            : first?.keyword === 'minLength' && params.limit === 1
              ? 'is empty'
              : (first?.message ?? 'is invalid');
    return new AppError('VALIDATION_FAILED', `${field}: ${problem}`, { field });
  }
  const byCode: Partial<Record<string, [ErrorCode, string]>> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 'request body is larger than BODY_LIMIT_BYTES; send fewer rows per request'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['BAD_REQUEST', 'the JSON body is empty'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['BAD_REQUEST', `malformed JSON body: ${parseProblem(err)}; send one JSON object`],
  };
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const sent = request?.headers?.['content-type'];
    // fetch() sends a string body as text/plain unless told otherwise: the commonest way here.
    return new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      typeof sent === 'string' && sent
        ? `unsupported content type ${JSON.stringify(sent.slice(0, 100))}; send the JSON body with Content-Type: application/json${/^text\/plain\b/i.test(sent) ? ' (fetch() sends a string body as text/plain unless its headers say otherwise)' : ''}`
        : 'unsupported content type; send Content-Type: application/json',
    );
  }
  const known = err.code ? byCode[err.code] : undefined;
  if (known) return new AppError(known[0], known[1]);
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|prototype|Unexpected/i.test(err.message))) {
    return new AppError('BAD_REQUEST', `malformed JSON body: ${parseProblem(err)}; send one JSON object`);
  }
  if (err.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', err.message);
  if (err.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new AppError('BAD_REQUEST', err.message);
  return new AppError('INTERNAL', 'internal error; the server log has the details under this request_id');
}

/**
 * What the object missing a field holds instead: a client that sent its row as "features" was
 * told only "body.payload: is required", and had to guess what it got wrong.
 */
function sentInstead(request: { body?: unknown; query?: unknown; params?: unknown } | undefined, context: string | undefined, instancePath = ''): string {
  const root = context === 'querystring' ? request?.query : context === 'params' ? request?.params : request?.body;
  let at: unknown = root;
  for (const step of instancePath.split('/').filter(Boolean)) at = at && typeof at === 'object' ? (at as Record<string, unknown>)[step] : undefined;
  if (!at || typeof at !== 'object' || Array.isArray(at)) return '';
  const keys = Object.keys(at);
  if (!keys.length) return '';
  const SHOWN = 8;
  return ` (it has ${keys.slice(0, SHOWN).join(', ')}${keys.length > SHOWN ? ` and ${keys.length - SHOWN} more` : ''})`;
}

export function sendError(reply: FastifyReply, request: FastifyRequest, e: AppError): FastifyReply {
  return reply
    .headers(errorHeaders(e))
    .code(e.status)
    .type('application/json')
    .send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}), request_id: String(request.id) } });
}

/**
 * What Node's HTTP parser refuses before there is a request for Fastify to answer — a body that
 * took longer than REQUEST_TIMEOUT_MS to arrive, headers over Node's limit, bytes that are not
 * HTTP — answered in the error model like every other error (Fastify's own answer was
 * {"error":"Request Timeout","message":"Client Timeout"}), then the connection closed.
 */
export function clientErrorHandler(requestTimeoutMs: number, newId: () => string) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [code, message]: [ErrorCode, string] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            'REQUEST_TIMEOUT',
            `the request did not arrive in full within REQUEST_TIMEOUT_MS (${requestTimeoutMs} ms): send it faster, or raise REQUEST_TIMEOUT_MS on the server for large uploads over slow links`,
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? ['HEADERS_TOO_LARGE', "the request's headers are larger than the server takes (16 KiB in all); send fewer or shorter ones"]
          : ['BAD_REQUEST', `the request is not valid HTTP/1.1 (${err.code ?? err.message}); send it with an HTTP client`];
    const status = ERROR_STATUS[code];
    const body = JSON.stringify({ error: { code, message, request_id: newId() } });
    if (socket.writable)
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy(err);
  };
}

export function installErrorHandling(app: FastifyInstance, sqliteFile?: string): void {
  const methodsAt = routeMethods(app);
  /**
   * A URL joined from a base that ends in a slash (/v1/infer/, //v1/infer, /v1/models/ read as an
   * empty model name) names no route the router takes: the route it meant, when there is one.
   */
  const didYouMean = (method: string, path: string): string => {
    const tidy = path.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    return tidy !== path && methodsAt(tidy).includes(method) ? `; did you mean ${method} ${tidy}?` : '';
  };
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let e = err instanceof AppError ? err : (databaseUnavailable(err, sqliteFile) ?? fromFastify(err, request));
    // An empty path segment (/v1/models/): the route the URL meant, when there is one.
    if (err.validationContext === 'params' && err.validation?.[0]?.keyword === 'minLength') e = new AppError(e.code, e.message + didYouMean(request.method, request.url.split('?')[0]), e.details);
    logRequestError(request.log, err, e);
    return sendError(reply, request, e);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = methodsAt(path);
    if (allowed.length) reply.header('allow', allowed.join(', '));
    const meant = didYouMean(request.method, path);
    const e = allowed.length
      ? new AppError('METHOD_NOT_ALLOWED', `${request.method} ${path}: this route takes ${allowed.join(' or ')}; the API is listed at /docs`, { allow: allowed })
      : new AppError('NOT_FOUND', `no route ${request.method} ${path}${meant || '; the API is listed at /docs'}`);
    // Under /v2 a client speaks the Open Inference Protocol, whose errors are {"error": "..."}:
    // Triton's client fails on any other shape (a 404 for its model-config or statistics calls).
    if (path === '/v2' || path.startsWith('/v2/')) return reply.code(e.status).type('application/json').send({ error: e.message });
    return sendError(reply, request, e);
  });
}
