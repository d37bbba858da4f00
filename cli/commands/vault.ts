import { SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import { createMasterKeyring, createVaultStore } from '../../services/vault/index.ts';
import type { Command } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';

/** `vigie vault`: the document vault's master keys — where each citizen's key stands, and rotating them. */
export const vault: Command = {
  name: 'vault',
  summary: "the document vault's keys: status, rewrap (master key rotation)",
  help: `vigie vault status
vigie vault rewrap

Each citizen's data key is stored wrapped by a master key of VIGIE_VAULT_MASTER_KEYS (id:base64,…; the first one
wraps new keys). status prints how many citizens' keys each master key id wraps. To rotate: put a new key first
(k2:…,k1:…), restart, run rewrap — it rewraps every data key still under another id with the current one, in
batches, documents untouched — and once status shows only the new id, drop the old key. A data key whose master key
is no longer configured cannot be rewrapped (ERR_VAULT_KEY_UNKNOWN): put that key back. With the embedded store
(PGlite), run these while vigie is stopped.`,
  options: {},
  async run(_values, positionals) {
    const [action] = positionals;
    if (action !== 'status' && action !== 'rewrap') {
      process.stderr.write('vigie vault: status | rewrap (see --help)\n');
      return 2;
    }
    const config = loadConfig();
    if (!config.vault.masterKeys) {
      throw new AppError('ERR_VAULT_KEY_INVALID', 'VIGIE_VAULT_MASTER_KEYS: not set (id:base64,…; docs/config.md)');
    }
    const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
    try {
      const vaultStore = createVaultStore(store, { config: config.vault });
      const { current } = createMasterKeyring(config.vault.masterKeys);
      if (action === 'rewrap') {
        let total = 0;
        for (let n = await vaultStore.rewrapKeys(SYSTEM_CLOCK.nowMs()); n > 0; ) {
          total += n;
          n = await vaultStore.rewrapKeys(SYSTEM_CLOCK.nowMs());
        }
        process.stderr.write(`rewrapped ${total} data key${total === 1 ? '' : 's'} with master key ${current}\n`);
      }
      const counts = await vaultStore.keysByMaster();
      const ids = Object.keys(counts);
      for (const id of ids) {
        process.stdout.write(`${id}\t${counts[id]}${id === current ? '\t(current)' : ''}\n`);
      }
      if (ids.length === 0) process.stdout.write('no data key yet\n');
      return 0;
    } finally {
      await store.close();
    }
  },
};
