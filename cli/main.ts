import { AppError } from '../core/errors.ts';
import { type Command, parseCommandArgs } from './command.ts';
import { COMMANDS } from './commands/index.ts';

const USAGE = `vigie — a city's telemetry and alerting pipeline

Usage: vigie <command> [options]     (vigie <command> --help for its options)

Commands:
${COMMANDS.map((c: Command) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

Configuration comes from VIGIE_* environment variables (plus DATABASE_URL, TWILIO_*, SMTP_URL),
validated at start: see docs/config.md.`;

/** Entry point of the `vigie` command: sets the exit code, never throws. */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = name === undefined ? 2 : 0;
    return;
  }
  const command = COMMANDS.find((c: Command) => c.name === name);
  if (!command) {
    process.stderr.write(
      `vigie: unknown command ${JSON.stringify(name)} (one of ${COMMANDS.map((c) => c.name).join(', ')})\n`,
    );
    process.exitCode = 2;
    return;
  }
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    if (values.help) {
      process.stdout.write(`${command.help.trim()}\n`);
      process.exitCode = 0;
      return;
    }
    process.exitCode = await command.run(values, positionals);
  } catch (err) {
    if (err instanceof AppError && !err.retryable) {
      // Configuration, argument and credential errors stop with the reason and nothing else (STYLE.md §6.8).
      process.stderr.write(`vigie ${command.name}: ${err.message}\n`);
      process.exitCode = err.code === 'ERR_CLI_ARGS' ? 2 : 1;
      return;
    }
    throw err;
  }
}
