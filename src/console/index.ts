export { consoleRoutes, reportHtmlRoutes, CONSOLE_CSP } from './routes.js';
export { renderReportHtml, scriptJson } from './report-html.js';
export { readReportAssets, consoleBuilt, UI_DIR } from './assets.js';
