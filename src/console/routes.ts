import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { MonitoringService } from '../monitoring/index.js';
import { consoleBuilt, notBuilt, readReportAssets, UI_DIR } from './assets.js';
import { renderReportHtml } from './report-html.js';

/** The console's policy: its own script, styles and API only; nothing inline, nothing from elsewhere. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The console at /ui: static files from `npm run build` (dist/ui). Everything it shows comes
 * from the same HTTP API and scope checks as the CLI, with the token the user pastes.
 */
export async function consoleRoutes(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? UI_DIR;
  app.get('/ui', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
  if (!consoleBuilt(dir)) {
    app.get('/ui/*', { schema: { hide: true } }, () => {
      throw notBuilt();
    });
    return;
  }
  await app.register(async (scope) => {
    scope.addHook('onRequest', (_request, reply, done) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      done();
    });
    await scope.register(fastifyStatic, { root: dir, prefix: '/ui/', cacheControl: false, etag: true, index: ['index.html'], schemaHide: true });
  });
}

/** A stored monitoring report as one self-contained HTML file (the console's "download" and CI attachments). */
export async function reportHtmlRoutes(app: FastifyInstance, deps: { monitoring: Pick<MonitoringService, 'report'>; dir?: string }): Promise<void> {
  app.get<{ Params: { name: string; id: string } }>(
    '/v1/monitoring/:name/reports/:id.html',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['monitoring'],
        summary: 'One stored monitoring report as a self-contained HTML page (styles, script and data inline; opens from disk with no network)',
        params: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name', 'id'] },
        produces: ['text/html'],
      },
    },
    async (request, reply) => {
      const r = await deps.monitoring.report(request.params.name, request.params.id);
      const { html, csp } = renderReportHtml(r, await readReportAssets(deps.dir));
      return reply.type('text/html; charset=utf-8').header('content-security-policy', csp).header('content-disposition', `inline; filename="${r.model}-report-${request.params.id}.html"`).send(html);
    },
  );
}
