import { createLogger, type Logger } from '../core/logging.ts';
import { loadConfig } from './config.ts';

/** Configuration and logger of a long-running command; logs go to `data/logs/vigie.log`, the terminal stays readable. */
export function openRuntime(options: { logToStdout?: boolean } = {}): {
  config: ReturnType<typeof loadConfig>;
  logger: Logger;
} {
  const config = loadConfig();
  const logger = createLogger({
    level: config.logLevel,
    destination: options.logToStdout ? 1 : config.logFile,
  });
  return { config, logger };
}

/** Resolves on the first SIGINT or SIGTERM: long-running commands then drain and exit. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
