/** Internals of @dmasim/report; not a stable API. */
export { page, reportSections, STYLE } from './html.ts';
