/** One metric's live line chart (uPlot: canvas, ~50 KB, redraws thousands of points in a frame). */

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { thin, type ISeries } from './series';

const COLORS = ['#1976d2', '#d32f2f', '#388e3c', '#f57c00', '#7b1fa2', '#0097a7', '#5d4037', '#c2185b'];

/** A theme colour for the canvas (which cannot resolve CSS variables itself). */
export function themeColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** The sidebar charts' axis style (theme colours, 11 px text, a title slot). */
export function axisStyle() {
  const text = themeColor('--jp-ui-font-color2', '#616161');
  const grid = themeColor('--jp-border-color2', '#e0e0e0');
  return {
    stroke: text,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1 },
    labelSize: 16,
    labelFont: '11px sans-serif',
    font: '11px sans-serif'
  };
}

/** Tick spacings for an axis of whole numbers (1, 2, 5, 10, 20, 50, ...). */
export const INTEGER_STEPS = Array.from({ length: 10 }, (_, k) => [1, 2, 5].map(m => m * 10 ** k)).flat();

export class MetricChart {
  private plot: uPlot | null = null;
  private width = 320;

  constructor(
    private el: HTMLElement,
    private name: string,
    private color = COLORS[0]
  ) {}

  static color(index: number): string {
    return COLORS[index % COLORS.length];
  }

  update(series: ISeries): void {
    const [x, y] = thin(series.x, series.y);
    const data: uPlot.AlignedData = [x, y];
    if (!this.plot) {
      const axis = axisStyle();
      this.plot = new uPlot(
        {
          width: this.width,
          height: 160,
          legend: { show: false },
          cursor: { drag: { x: true, y: false } },
          scales: { x: { time: false } },
          axes: [
            // steps and epochs are whole numbers: whole-number ticks only
            { ...axis, size: 30, label: series.xLabel ?? 'step', incrs: INTEGER_STEPS },
            { ...axis, size: 50, label: this.name }
          ],
          series: [{}, { label: this.name, stroke: this.color, width: 2, points: { show: x.length < 60 } }]
        },
        data,
        this.el
      );
    } else {
      this.plot.setData(data);
    }
    this.el.dataset.xLabel = series.xLabel ?? 'step';
    this.el.setAttribute('aria-label', `${this.name} by ${series.xLabel ?? 'step'}`);
    this.el.dataset.points = String(series.x.length);
    this.el.dataset.drawn = String(x.length);
  }

  resize(width: number): void {
    this.width = Math.max(200, Math.floor(width));
    this.plot?.setSize({ width: this.width, height: 160 });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}

/** Several lines of one metric on one chart (the Compare panel): one line per compared column, a
 * legend naming them, axis titles, and whole-number ticks on an epoch or step axis. */
export class OverlayChart {
  private plot: uPlot | null = null;
  private width = 360;

  constructor(
    private el: HTMLElement,
    private name: string
  ) {}

  /** `x` shared by every line, `ys[i]` the line of `labels[i]` (null where it has no point), drawn in
   * `colors[i]` (a column keeps its colour across charts). */
  update(x: number[], ys: (number | null)[][], labels: string[], colors: string[], xLabel: 'epoch' | 'step'): void {
    this.plot?.destroy();
    const axis = axisStyle();
    this.plot = new uPlot(
      {
        width: this.width,
        height: 200,
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false } },
        axes: [
          { ...axis, size: 30, label: xLabel, incrs: INTEGER_STEPS },
          { ...axis, size: 50, label: this.name }
        ],
        series: [
          { label: xLabel },
          ...labels.map((label, i) => ({
            label,
            stroke: colors[i],
            // earlier lines a little wider, so a line drawn over another equal one leaves it visible
            width: 2 + Math.min(3, labels.length - 1 - i),
            spanGaps: true,
            points: { show: x.length < 60 }
          }))
        ]
      },
      [x, ...ys] as uPlot.AlignedData,
      this.el
    );
    this.el.dataset.xLabel = xLabel;
    this.el.dataset.lines = String(ys.length);
    this.el.dataset.points = String(x.length);
    this.el.setAttribute('aria-label', `${this.name} by ${xLabel}: ${labels.join(', ')}`);
  }

  resize(width: number): void {
    this.width = Math.max(220, Math.floor(width));
    this.plot?.setSize({ width: this.width, height: 200 });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}
