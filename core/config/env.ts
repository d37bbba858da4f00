import type { z } from 'zod';
import { AppError } from '../errors.ts';

/** Binds one environment variable to a key of the configuration object. */
export interface EnvBinding {
  /** The variable, e.g. `VIGIE_MQTT_PORT`. */
  readonly variable: string;
  /** Where its value goes in the configuration object, e.g. `['ingest', 'mqttPort']`. */
  readonly path: readonly string[];
  /** `list`: a comma-separated list becomes an array of trimmed, non-empty strings. */
  readonly format?: 'string' | 'list';
  /** Holds a secret: its value is never printed, not even in an error. */
  readonly secret?: boolean;
  /** What the variable is for (docs/config.md). */
  readonly description: string;
}

/** Variables outside the `VIGIE_` prefix that Vigie reads (CONTRACTS.md §2); any other `VIGIE_*` is a typo. */
const PREFIX = 'VIGIE_';

/**
 * Reads the environment into a configuration object and validates it once (ARCHITECTURE.md principle 5).
 * Throws `ERR_CONFIG_INVALID` listing **every** problem, each naming the variable, its value and what is expected;
 * an unknown `VIGIE_*` variable is a problem too (a typo must not pass silently).
 */
export function loadFromEnv<S extends z.ZodType>(
  schema: S,
  bindings: readonly EnvBinding[],
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  const known = new Set(bindings.map((b) => b.variable));
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith(PREFIX) && !known.has(name)) {
      problems.push(`${name}: unknown variable (known: ${[...known].filter((v) => v.startsWith(PREFIX)).join(', ')})`);
    }
  }
  for (const binding of bindings) {
    const value = env[binding.variable];
    if (value === undefined || value === '') continue;
    const parsed =
      binding.format === 'list'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
    setPath(raw, binding.path, parsed);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String);
      const binding = bindings.find((b) => isPrefix(b.path, path));
      if (!binding) {
        // An issue on a section (e.g. a required section left empty) names the variables that fill it.
        const under = path.length > 0 ? bindings.filter((b) => isPrefix(path, b.path)).map((b) => b.variable) : [];
        const hint = under.length > 0 ? ` (set by ${under.join(', ')})` : '';
        problems.push(`${path.join('.') || '(configuration)'}: ${issue.message}${hint}`);
        continue;
      }
      const value = env[binding.variable];
      // An empty value counts as unset (it was skipped above); saying `"(unset)"` in quotes would read as a value.
      const shown = binding.secret
        ? '[redacted]'
        : value === undefined || value === ''
          ? '(unset)'
          : JSON.stringify(value);
      problems.push(`${binding.variable}=${shown}: ${issue.message} — ${binding.description}`);
    }
  }
  if (problems.length > 0) {
    throw new AppError('ERR_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return (result as { data: z.output<S> }).data;
}

function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  if (prefix.length > path.length) return false;
  return prefix.every((p, i) => p === path[i]);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}
