/**
 * The environment for a `vigie` child process in a test: this process's environment without its `VIGIE_*`
 * variables (a developer's VIGIE_KAFKA_BROKERS or VIGIE_TEST_DATABASE_URL, read by the test setup, must not reach
 * a command that refuses variables it does not know), plus the test's own.
 */
export function cliEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('VIGIE_')) env[key] = value;
  return { ...env, ...overrides };
}
