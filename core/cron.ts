import type { Logger as CronLogger } from 'node-cron';
import type { Logger } from './logging.ts';

/** node-cron's log lines into ours (component `node-cron`): its chatter at debug, its warnings and errors as such. */
export function cronLogger(logger: Logger): CronLogger {
  return {
    info: (message) => logger.debug({ component: 'node-cron' }, message),
    warn: (message) => logger.warn({ component: 'node-cron' }, message),
    error: (message, err) =>
      logger.error({ component: 'node-cron', err: err ?? message }, typeof message === 'string' ? message : 'error'),
    debug: (message) => logger.debug({ component: 'node-cron' }, String(message)),
  };
}
