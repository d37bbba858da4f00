import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import { createOperatorTokens, ROLES, type Role, TOKEN_NAME, type TokenInfo } from '../../services/http/index.ts';
import { type Command, requiredOption } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';

/** `vigie tokens`: the operators' bearer tokens of the HTTP API. */
export const tokens: Command = {
  name: 'tokens',
  summary: "manage the operators' API tokens: create, list, revoke",
  help: `vigie tokens create --name NAME --role viewer|operator|admin
vigie tokens list [--all]
vigie tokens revoke (--name NAME | --id ID)

Bearer tokens for the HTTP API (Authorization: Bearer <token>). viewer reads alerts; operator also acknowledges,
resolves and comments them; admin may do everything. NAME (1-64 of A-Z a-z 0-9 . _ @ -, e.g. an email address) is
what the API records as who acknowledged, resolved or commented; it is unique among active tokens.

create prints the token on stdout, once: only its SHA-256 is stored, so it cannot be shown again (revoke a lost one
and create another). list shows the active tokens (--all: revoked ones too), never a secret. revoke takes effect at
once, on every running server. With the embedded store (PGlite), run these while vigie is stopped.`,
  options: {
    name: { type: 'string' },
    role: { type: 'string' },
    id: { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(values, positionals) {
    const [action] = positionals;
    let work: (store: ReturnType<typeof createOperatorTokens>) => Promise<number>;
    if (action === 'create') {
      const name = requiredOption(values, 'name');
      const role = requiredOption(values, 'role');
      if (!TOKEN_NAME.test(name)) {
        throw new AppError(
          'ERR_CLI_ARGS',
          `--name: ${JSON.stringify(name)} (1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit)`,
        );
      }
      if (!(ROLES as readonly string[]).includes(role)) {
        throw new AppError('ERR_CLI_ARGS', `--role: ${JSON.stringify(role)} (one of ${ROLES.join(', ')})`);
      }
      work = async (store) => {
        const { token, info } = await store.create(name, role as Role);
        process.stdout.write(`${token}\n`);
        process.stderr.write(
          `created token ${info.id} "${info.name}" (${info.role}); it is shown once, keep it in a secret store\n`,
        );
        return 0;
      };
    } else if (action === 'list') {
      work = async (store) => {
        const list = await store.list({ includeRevoked: values.all === true });
        process.stdout.write(formatTable(list));
        return 0;
      };
    } else if (action === 'revoke') {
      const which = revokeTarget(values);
      work = async (store) => {
        const revoked = await store.revoke(which);
        const what = 'id' in which ? `id ${which.id}` : `"${which.name}"`;
        if (!revoked) {
          process.stderr.write(`vigie tokens: no active token ${what}\n`);
          return 1;
        }
        process.stdout.write(`revoked token ${revoked.id} "${revoked.name}" (${revoked.role})\n`);
        return 0;
      };
    } else {
      process.stderr.write('vigie tokens: create --name --role | list | revoke --name|--id (see --help)\n');
      return 2;
    }
    const config = loadConfig();
    const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
    try {
      // A name taken or malformed throws a non-retryable AppError: main prints its one line and exits 1.
      return await work(createOperatorTokens(store));
    } finally {
      await store.close();
    }
  },
};

function revokeTarget(values: Record<string, string | boolean | undefined>): { id: number } | { name: string } {
  const { id, name } = values;
  if ((id === undefined) === (name === undefined)) {
    throw new AppError('ERR_CLI_ARGS', 'revoke: give exactly one of --name or --id');
  }
  if (typeof name === 'string') return { name };
  const n = Number(id);
  if (typeof id !== 'string' || !/^\d{1,15}$/.test(id) || !Number.isSafeInteger(n)) {
    throw new AppError('ERR_CLI_ARGS', `--id: ${JSON.stringify(id)} (a token id, as vigie tokens list shows)`);
  }
  return { id: n };
}

/** Tokens as an aligned text table, one line each, header first. */
function formatTable(list: readonly TokenInfo[]): string {
  const rows = [
    ['id', 'name', 'role', 'created', 'last used', 'revoked'],
    ...list.map((t) => [
      String(t.id),
      t.name,
      t.role,
      t.createdAt.slice(0, 19).replace('T', ' '),
      t.lastUsedAt ? t.lastUsedAt.slice(0, 19).replace('T', ' ') : '-',
      t.revokedAt ? t.revokedAt.slice(0, 19).replace('T', ' ') : '-',
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map(
      (r) =>
        `${r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
