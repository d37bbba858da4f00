/** The citizen document vault (issue 8): envelope encryption, share links, document checks, audit events. */
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../core/clock.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { AccountEraser, CitizenPlugin } from '../http/citizen.ts';
import type { HttpPlugin } from '../http/server.ts';
import type { VaultConfig } from './config.ts';
import { vaultCitizenRoutes, vaultSharedRoutes } from './routes.ts';
import { createVaultStore, eraseVaultAccount, type VaultStore } from './store.ts';

export * from './config.ts';
export * from './crypto.ts';
export * from './documents.ts';
export {
  VaultDocumentSchema,
  type VaultRoutesDeps,
  VaultShareSchema,
  vaultCitizenRoutes,
  vaultSharedRoutes,
} from './routes.ts';
export * from './share-link.ts';
export {
  type AuditEntry,
  createVaultStore,
  type DocumentUpload,
  eraseVaultAccount,
  type IssuedShare,
  MAX_AUDIT_PAGE,
  MAX_LIVE_SHARES_PER_DOCUMENT,
  type OpenedDocument,
  type VaultDocument,
  type VaultShare,
  type VaultStore,
  type VaultStoreOptions,
  vaultKeyring,
} from './store.ts';

/** The vault's SQL migrations (keys, documents, share links, the append-only audit log), component `vault`. */
export const vaultMigrations = migrationsFromDir('vault', fileURLToPath(new URL('./migrations', import.meta.url)));

/**
 * What erases a citizen's vault when their account is deleted (for `residentRoutes({ accountErasers })`): in the
 * deletion's transaction, their data key first (crypto-shredding), then their share links and documents; the audit
 * log keeps its rows and gains `account-delete`.
 */
export function vaultEraser(deps: { readonly metrics?: Metrics | undefined } = {}): AccountEraser {
  return async (tx, citizenId, atMs) => {
    await eraseVaultAccount(tx, citizenId, atMs, deps.metrics);
  };
}

/** What the vault needs. */
export interface VaultDeps {
  readonly store: SqlStore;
  /** The `vault` config section; `masterKeys` is required. */
  readonly config: VaultConfig;
  readonly clock?: Clock | undefined;
  readonly metrics?: Metrics | undefined;
  /** Base of the share links handed out (http.publicUrl). */
  readonly publicUrl?: string | undefined;
}

/** The vault, wired: its store, the citizen's routes, the public shared-link route, the account eraser. */
export interface Vault {
  readonly documents: VaultStore;
  /** For `residentRoutes({ citizenPlugins })`. */
  readonly citizenRoutes: CitizenPlugin;
  /** For `startHttp({ plugins })`. */
  readonly sharedRoutes: HttpPlugin;
  /** For `residentRoutes({ accountErasers })`. */
  readonly eraser: AccountEraser;
}

/** Creates the vault; throws ERR_VAULT_KEY_INVALID when `config.masterKeys` is absent or malformed (a start-up error). */
export function createVault(deps: VaultDeps): Vault {
  const documents = createVaultStore(deps.store, { config: deps.config, metrics: deps.metrics });
  const routeDeps = { ...deps, vault: documents };
  return {
    documents,
    citizenRoutes: vaultCitizenRoutes(routeDeps),
    sharedRoutes: vaultSharedRoutes(routeDeps),
    eraser: vaultEraser(deps),
  };
}
