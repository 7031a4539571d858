/**
 * @dmasim/report: the capacity-planning report of a sweep as a self-contained HTML page (charts rendered to
 * inline SVG at report time with Apache ECharts), with Markdown, JSON and PDF; and the comparison of two
 * result sets. See docs/REPORT.md.
 */
export { COLORS, renderSvg } from './charts.ts';
export { type CompareRow, compareRows, METRICS, renderCompareHtml } from './compare.ts';
export { type HtmlOptions, renderReportHtml } from './html.ts';
export { asReport, type LoadedResults, loadResults } from './load.ts';
export {
  CHROMIUM_ARGS,
  type Chromium,
  chromiumPath,
  launchChromium,
  parseFormats,
  printPdf,
  REPORT_FORMATS,
  type ReportFormat,
  writeReports,
} from './write.ts';
