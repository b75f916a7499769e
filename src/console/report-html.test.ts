import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Report } from '../monitoring/index.js';
import { renderReportHtml, scriptJson } from './report-html.js';

const hostile = '</script><script>alert("x")</script><!-- \u2028 & \'quotes\'';

describe('self-contained HTML report', () => {
  it('embeds data that cannot end its script element, and parses back to the same value', () => {
    const value = { name: hostile, nested: [hostile, 1.5, null] };
    const json = scriptJson(value);
    expect(json).not.toMatch(/<|>|\u2028/);
    expect(JSON.parse(json)).toEqual(value);
  });

  it('lets only its own inline script and styles run: the CSP names their SHA-256, computed here independently', () => {
    const report = { model: hostile, version: 3, window: { from: 'a', to: 'b' } } as unknown as Report;
    const assets = { script: 'document.body.dataset.ok = "1";', css: 'body { color: red }' };
    const { html, csp } = renderReportHtml(report, assets);
    const hash = (s: string) => createHash('sha256').update(s).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash(assets.script)}'`);
    expect(csp).toContain(`style-src 'sha256-${hash(assets.css)}'`);
    expect(csp).toContain("default-src 'none'");
    // The title is escaped, and the only script elements are the data and the page's own.
    expect(html).toContain('<title>Drift report: &#60;/script&#62;');
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html).toContain(`<script>${assets.script}</script>`);
  });
});
