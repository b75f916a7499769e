// The script of a self-contained HTML drift report: the report is in a JSON script element
// of the same file; nothing is fetched.
import { render } from 'preact';
import { ReportView } from './report/report-view.js';
import type { Report } from './report/types.js';
import './styles.css';

const report = JSON.parse(document.getElementById('report-data')?.textContent ?? 'null') as Report | null;
const root = document.getElementById('app')!;
render(
  report ? (
    <main class="standalone">
      <h1>
        Drift report: {report.model} v{report.version}
      </h1>
      <ReportView report={report} />
      <footer>Made by modelgate. This file is self-contained: it needs no network and no server.</footer>
    </main>
  ) : (
    <p class="error">This file holds no report data.</p>
  ),
  root,
);
