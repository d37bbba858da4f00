import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AppError } from '../core/errors.ts';

/** Options of a command, as node:util parseArgs takes them. */
export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** One `vigie <command>`. */
export interface Command {
  readonly name: string;
  /** One line for `vigie --help`. */
  readonly summary: string;
  /** Full help text (usage, options, environment). */
  readonly help: string;
  readonly options: CommandOptions;
  /** Runs the command; resolves with the process exit code. */
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

/** Parses a command's arguments strictly: an unknown option or a missing value is an `ERR_CLI_ARGS` error. */
export function parseCommandArgs(
  command: Command,
  argv: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new AppError('ERR_CLI_ARGS', `${(err as Error).message} (see vigie ${command.name} --help)`);
  }
}

/** Reads a numeric option: a clear error names the option, its value and the range allowed. */
export function numberOption(
  values: Record<string, string | boolean | undefined>,
  name: string,
  fallback: number,
  range: { min: number; max: number; integer?: boolean },
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const ok = typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(n) && n >= range.min && n <= range.max;
  if (!ok || (range.integer && !Number.isInteger(n))) {
    const kind = range.integer ? 'an integer' : 'a number';
    throw new AppError('ERR_CLI_ARGS', `--${name}: ${JSON.stringify(raw)} (${kind} from ${range.min} to ${range.max})`);
  }
  return n;
}

/** Reads a string option that must be present. */
export function requiredOption(values: Record<string, string | boolean | undefined>, name: string): string {
  const raw = values[name];
  if (typeof raw !== 'string' || raw === '') throw new AppError('ERR_CLI_ARGS', `--${name} is required`);
  return raw;
}
