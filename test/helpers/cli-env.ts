/**
 * The environment for a `vigie` child process in a test: this process's environment without its `VIGIE_*`
 * variables (a developer's VIGIE_KAFKA_BROKERS or VIGIE_TEST_DATABASE_URL, read by the test setup, must not reach
 * a command that refuses variables it does not know), {@link HOUR_FREE_ENV}, plus the test's own.
 */
export function cliEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('VIGIE_')) env[key] = value;
  // Any free port for the HTTP API: tests run side by side.
  return { ...env, ...HOUR_FREE_ENV, VIGIE_HTTP_PORT: '0', ...overrides };
}

/**
 * Residents' SMS in a test must not depend on the hour the test runs at: no quiet hours, the all-clear at once
 * (alerting/resident-policy.ts; the policy's own tests run on a controlled clock).
 */
export const HOUR_FREE_ENV: Readonly<Record<string, string>> = {
  VIGIE_QUIET_HOURS: 'off',
  VIGIE_RESIDENT_SETTLE_MINUTES: '0',
};
