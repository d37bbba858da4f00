import { AppError } from '../../core/errors.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { type HttpConfig, publicUrlOf } from '../../services/http/index.ts';
import { type OpenedBus, openBus } from '../bus.ts';
import { type Command, numberOption } from '../command.ts';
import { serveMetrics } from '../observability.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';
import { openRuntime, untilSignal } from '../runtime.ts';
import { type RunningWeb, startWeb } from '../services.ts';

/** `--host` and `--port`, read before anything is opened (a mistake is reported first). */
function listenOptions(values: Record<string, string | boolean | undefined>): { host?: string; port?: number } {
  const host = typeof values.host === 'string' ? values.host : undefined;
  if (host === '') throw new AppError('ERR_CLI_ARGS', '--host: "" (an address, e.g. 0.0.0.0 or 127.0.0.1)');
  const port =
    values.port === undefined ? undefined : numberOption(values, 'port', 0, { min: 0, max: 65_535, integer: true });
  return { ...(host === undefined ? {} : { host }), ...(port === undefined ? {} : { port }) };
}

/** `vigie serve`: the HTTP API alone, on the operational store. */
export const serve: Command = {
  name: 'serve',
  summary: 'the HTTP API (alert lifecycle; OpenAPI at /docs)',
  help: `vigie serve [--host H] [--port P]

Runs the HTTP API on the operational store (PostgreSQL with DATABASE_URL, else PGlite in VIGIE_DATA_DIR, which
only one process may open: with PGlite, use vigie start instead). Routes: /api/alerts (list, read, acknowledge,
resolve, comment; a bearer token from vigie tokens create), /healthz, and the OpenAPI document at /docs (/docs/json).
Prometheus metrics at VIGIE_METRICS_PORT/metrics. SIGINT or SIGTERM: stops accepting, lets requests finish, exits.

Options:
  --host H   address to listen on (default VIGIE_HTTP_HOST, 0.0.0.0)
  --port P   port to listen on, 0 for any free port (default VIGIE_HTTP_PORT, 8080)`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
  },
  async run(values) {
    const overrides = listenOptions(values);
    const { config, logger } = openRuntime();
    const http: HttpConfig = { ...config.http, ...overrides };
    const stopped = untilSignal();
    try {
      const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
      const metrics = new Metrics();
      let web: RunningWeb;
      let opened: OpenedBus | undefined;
      try {
        // The services' consumers and messages: on Kafka when configured, else in process (notifications then
        // queued in the shared store here, for the alerting stage that sweeps it).
        opened = await openBus(config, logger, 'serve');
        web = await startWeb({
          config,
          http,
          store,
          bus: opened.bus,
          metrics,
          logger,
          intake: opened.kind === 'memory',
        });
      } catch (err) {
        await opened?.bus.close();
        await store.close();
        throw err;
      }
      let draining = false;
      const served = await serveMetrics({
        config: config.observability,
        metrics,
        logger,
        healthy: () => !draining,
      });
      logger.info(
        { url: web.api.url, publicUrl: publicUrlOf(http, web.api.port), store: store.engine, pid: process.pid },
        'vigie serve: running',
      );
      process.stdout.write(`vigie serve: listening on ${web.api.url} (API documentation: ${web.api.url}/docs)\n`);
      const signal = await stopped;
      logger.info({ signal }, 'vigie serve: draining');
      draining = true;
      await web.close();
      await opened.bus.close();
      await served?.close();
      await store.close();
      logger.info('vigie serve: stopped');
      process.stdout.write(`vigie serve: ${signal}, stopped\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof AppError) || !err.retryable) throw err;
      // The database is unreachable: one line naming it, not a stack trace.
      logger.error({ err }, 'vigie serve: could not start');
      process.stderr.write(`vigie serve: ${err.message}\n`);
      return 1;
    } finally {
      logger.flush();
    }
  },
};
