/**
 * Report output: dependency-free SVG charts, CSV / Markdown tables with
 * multi-seed aggregation, and atomic file writes.
 * @module
 */
export * from './svg.js';
export * from './table.js';
export * from './atomic.js';
