import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Our own metrics, named `<component>_<noun>_<unit>_total` (STYLE.md §5), on one registry per process.
 * Stages create their metrics through these helpers, so creating one twice returns the same metric.
 */
export class Metrics {
  /** The Prometheus registry, served by `vigie serve` at `/metrics`. */
  readonly registry = new Registry();

  /** A counter with a bounded set of label names. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * A gauge. With `read`, its value is read when the gauge is collected (a scrape of `/metrics`, `value`), not set
   * by the code that changes it: for a figure another process may change too (a count in the shared store).
   */
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    read?: () => Promise<number>,
  ): Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      ...(read
        ? {
            async collect(this: Gauge<L>) {
              this.set(await read());
            },
          }
        : {}),
    });
  }

  /** A histogram; `buckets` in the metric's unit. */
  histogram<L extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram({ name, help, buckets, labelNames, registers: [this.registry] });
  }

  /** Current value of a counter or gauge (summed over labels matching `labels`), for tests and summaries. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    return data.values
      .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
      .reduce((sum, v) => sum + v.value, 0);
  }
}
