/**
 * Charts as SVG text, rendered in Node at report time with Apache ECharts' server-side SVG renderer (no DOM,
 * no canvas, no native module): the page embeds the SVG inline and needs no script to show it.
 */
import * as echarts from 'echarts';

/** The palette of map types and modes, the same in every chart and in the matrix. */
export const COLORS = {
  BUS_ADDR: '#2e7d32',
  THRU_IOVA: '#1565c0',
  THRU_PER_RANGE: '#64b5f6',
  THRU_FAILED: '#ef6c00',
  THRU_HOST_BRIDGE: '#1976d2',
  NOT_SUPPORTED: '#c62828',
  neutral: '#546e7a',
  limit32: '#c62828',
  aperture: '#6a1b9a',
} as const;

const TEXT = {
  // Family names unquoted: ECharts writes them into a double-quoted style attribute without escaping.
  fontFamily: 'system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif',
  color: '#263238',
};

/** Renders one ECharts option to SVG text (animation off, fixed size). */
export function renderSvg(option: echarts.EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, textStyle: TEXT, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
