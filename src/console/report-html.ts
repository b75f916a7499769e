import { createHash } from 'node:crypto';
import type { Report } from '../monitoring/index.js';

/** JSON safe inside a <script> element: no "</script>", no "<!--", no line separators that end a JS string. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export interface ReportHtml {
  html: string;
  /** The Content-Security-Policy a server sends with it: only its own inline script and styles run. */
  csp: string;
}

/**
 * One self-contained HTML file for a monitoring report: the styles, the script and the report
 * itself inline, so it opens from disk with no network (attached to a CI run or an incident).
 * The data sits in a JSON script element the page script reads; it is never evaluated.
 */
export function renderReportHtml(report: Report, assets: { script: string; css: string }): ReportHtml {
  const title = `Drift report: ${report.model} v${report.version}, ${report.window.from} to ${report.window.to}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="modelgate">
<title>${escapeHtml(title)}</title>
<style>${assets.css}</style>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script>${assets.script}</script>
</body>
</html>
`;
  const csp = `default-src 'none'; script-src ${sha256(assets.script)}; style-src ${sha256(assets.css)}; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
