import uPlot from 'uplot';
import { timeLabel } from './format.ts';

/**
 * Consumption bars with uPlot (≈ 50 KB, canvas): one bar per hour, day or month, the axis in the city's time zone,
 * resized with its container; periods not final yet drawn lighter. Pages put the numbers in a visually hidden table
 * too, for screen readers.
 */

/** One bar: the period's first instant and its value. */
export interface Bar {
  readonly startMs: number;
  readonly value: number;
  /** Not final yet (drawn lighter in the table). */
  readonly partial?: boolean;
}

/** A chart in `container`; `update` redraws with new bars, `destroy` removes it. */
export interface BarChart {
  /** Redraws with `bars`, each `periodS` seconds long (an hour, a day, ~a month): the axis is padded by half of it. */
  update(bars: readonly Bar[], periodS: number): void;
  destroy(): void;
}

/** Creates a bar chart of `unit` values (e.g. `L`), its time axis in `timeZone`. */
export function barChart(container: HTMLElement, options: { unit: string; timeZone: string; label: string }): BarChart {
  const bars = uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
  const opts: uPlot.Options = {
    width: Math.max(280, container.clientWidth),
    height: 240,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), options.timeZone),
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      { values: (_u, ticks, _axis, _space, incr) => ticks.map((t) => timeLabel(t * 1000, incr, options.timeZone)) },
      { values: (_u, ticks) => ticks.map((t) => `${t} ${options.unit}`), size: 70 },
    ],
    series: [
      {},
      {
        label: options.label,
        stroke: '#1d5fa8',
        fill: 'rgba(29, 95, 168, 0.55)',
        width: 1,
        ...(bars ? { paths: bars } : {}),
        points: { show: false },
      },
      // Periods not final yet (today so far), lighter.
      {
        label: `${options.label} (en cours)`,
        stroke: '#1d5fa8',
        fill: 'rgba(29, 95, 168, 0.18)',
        width: 1,
        dash: [4, 3],
        ...(bars ? { paths: bars } : {}),
        points: { show: false },
      },
    ],
  };
  const plot = new uPlot(opts, [[], [], []], container);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, container.clientWidth), height: 240 }));
  resize.observe(container);
  return {
    update(data, periodS) {
      const xs = data.map((b) => b.startMs / 1000);
      plot.setData([xs, data.map((b) => (b.partial ? null : b.value)), data.map((b) => (b.partial ? b.value : null))]);
      // Half a period of room at each end: the first and last bars drawn whole, and a single bar on an axis of its
      // own period (uPlot alone gives one point a day of axis — years of ticks when the point is a month).
      const first = xs[0];
      const last = xs.at(-1);
      if (first !== undefined && last !== undefined) {
        plot.setScale('x', { min: first - periodS / 2, max: last + periodS / 2 });
      }
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}
