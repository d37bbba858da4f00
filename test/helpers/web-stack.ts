import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadConfig, type RootConfig } from '../../cli/config.ts';
import { ALL_MIGRATIONS, type Pipeline, startPipeline } from '../../cli/pipeline.ts';
import { type RunningWeb, startWeb } from '../../cli/services.ts';
import type { Clock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { openStore } from '../../core/store/open.ts';
import { createOperatorTokens, type Role } from '../../services/http/index.ts';
import { HOUR_FREE_ENV } from './cli-env.ts';

/**
 * Everything `vigie start` runs but the simulators, in this process, for the pages' tests: the pipeline (in-process
 * bus, PGlite in memory, the outbox in a temp folder, ingest on any free port), the alerting stage writing to the outbox, the citizen
 * services, the API and the web pages on any free port. Map tiles off (the console must work offline).
 */
export interface WebStack {
  readonly url: string;
  readonly config: RootConfig;
  readonly pipeline: Pipeline;
  readonly web: RunningWeb;
  /** A new operator token of this role. */
  token(role: Role, name?: string): Promise<string>;
  /** The SMS written to the outbox so far. */
  sms(): Array<{ to: string; body: string }>;
  /** The sign-in code of the first SMS to `to` carrying one, among the outbox's SMS from index `from` (waits). */
  signInCode(to: string, from: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the stack; `env` adds or overrides VIGIE_* variables; `clock` is the citizen services' (what the tests of
 * scheduled messages move), the pipeline keeping the system clock.
 */
export async function startWebStack(
  env: Record<string, string> = {},
  options: { clock?: Clock } = {},
): Promise<WebStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigie-web-'));
  const config = loadConfig({
    ...HOUR_FREE_ENV,
    VIGIE_DATA_DIR: dataDir,
    VIGIE_MQTT_PORT: '0',
    VIGIE_MQTT_HOST: '127.0.0.1',
    VIGIE_HTTP_PORT: '0',
    VIGIE_HTTP_HOST: '127.0.0.1',
    VIGIE_OPERATOR_EMAILS: 'exploitation@vigie.test',
    VIGIE_ALERT_GROUP_WAIT_SECONDS: '0',
    VIGIE_CONSOLE_TILE_URL: 'none',
    ...env,
  });
  const logger = silentLogger();
  // PGlite in memory: the same SQL as on disk, migrated faster.
  const store = await openStore({ pgliteDir: 'memory://' }, ALL_MIGRATIONS);
  const pipeline = await startPipeline({ config, logger, store });
  let web: RunningWeb;
  try {
    web = await startWeb({ config, store, bus: pipeline.bus, metrics: pipeline.metrics, logger, clock: options.clock });
  } catch (err) {
    await pipeline.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const smsFile = join(config.alerting.outboxDir, 'sms.ndjson');
  const sms = (): Array<{ to: string; body: string }> => {
    if (!existsSync(smsFile)) return [];
    return readFileSync(smsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { to: string; body: string });
  };
  let tokens = 0;
  return {
    url: web.api.url,
    config,
    pipeline,
    web,
    async token(role, name) {
      return (await createOperatorTokens(pipeline.store).create(name ?? `${role}-${++tokens}`, role)).token;
    },
    sms,
    async signInCode(to, from) {
      let code: string | undefined;
      await expect
        .poll(
          () => {
            code = sms()
              .slice(from)
              .filter((m) => m.to === to)
              .map((m) => /code de connexion est (\d{6})/.exec(m.body)?.[1])
              .find(Boolean);
            return code;
          },
          { timeout: 15_000, interval: 100 },
        )
        .toMatch(/^\d{6}$/);
      return code as string;
    },
    async close() {
      await web.close();
      await pipeline.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
