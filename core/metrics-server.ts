import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { AppError } from './errors.ts';
import type { Logger } from './logging.ts';

/**
 * Each stage's own telemetry (STYLE.md §7 config): `/metrics` serves the stage's prom-client registry in the
 * Prometheus text format, `/healthz` answers 200 while the stage runs (container health checks). node:http is
 * enough: two read-only routes, no body to parse.
 */

/** Configuration of the metrics endpoint and of the health reports (root section `observability`). */
export const observabilityConfigSchema = z.strictObject({
  metricsHost: z
    .string()
    .min(1)
    .default('0.0.0.0')
    .describe('Address the /metrics and /healthz endpoint listens on (0.0.0.0: every interface).'),
  metricsPort: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(9464)
    .describe(
      'Port of /metrics (Prometheus text format) and /healthz on every stage: 9464, the OpenTelemetry Prometheus ' +
        'exporter default; 0: off.',
    ),
  healthIntervalMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(10_000)
    .describe('Interval of each stage’s health report on health.v1 (written to pipeline_health), ms; 0: none.'),
});
/** Configuration of the metrics endpoint and the health reports. */
export type ObservabilityConfig = z.output<typeof observabilityConfigSchema>;

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** The registry to serve (`Metrics.registry`). */
  readonly registry: Registry;
  /** Port (0: any free port). */
  readonly port: number;
  /** Address (default 0.0.0.0). */
  readonly host?: string;
  /** `/healthz` answers 200 while this returns true, 503 otherwise (default: always true). */
  readonly healthy?: () => boolean;
  readonly logger?: Logger;
}

/** A listening endpoint. */
export interface MetricsServer {
  /** The port bound (useful with port 0). */
  readonly port: number;
  /** `http://<host>:<port>` (127.0.0.1 when listening on every interface). */
  readonly url: string;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Serves `registry` at `/metrics` and a liveness answer at `/healthz`. Rejects with `ERR_METRICS_LISTEN` when the
 * port cannot be bound (in use, not permitted).
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const host = options.host ?? '0.0.0.0';
  const healthy = options.healthy ?? (() => true);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          options.logger?.error({ err }, 'metrics could not be collected');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n');
        },
      );
      return;
    }
    if (path === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  // Scrapes are short; an idle keep-alive connection must not hold close() up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new AppError(
          'ERR_METRICS_LISTEN',
          `metrics endpoint could not listen: ${host}:${options.port} (${err.code ?? err.message}; a free port in VIGIE_METRICS_PORT, or 0 to turn it off)`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => options.logger?.error({ err }, 'metrics endpoint error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${shown}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
