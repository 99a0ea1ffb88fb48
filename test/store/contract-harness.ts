import type { OpenStoreOptions } from '../../src/store/open-store.js';
import type { Store, StoreDialect } from '../../src/store/store.js';

/** How the contract suite reaches one kind of database. */
export interface StoreContractTarget {
  dialect: StoreDialect;
  /** The URL of a fresh, empty database (each call a new one). */
  freshUrl(): Promise<string>;
  /** Whether two Store instances on one database compete for leadership (PostgreSQL) or both lead (SQLite). */
  leadershipIsExclusive: boolean;
}

export interface ContractHarness {
  target: StoreContractTarget;
  /** Opens a store on `url` (default: a fresh database) and closes it after the test. */
  open(url?: string, options?: OpenStoreOptions): Promise<Store>;
  /** Opens a store on a fresh database; also returns its URL. */
  openFresh(): Promise<{ store: Store; url: string }>;
}

/** Asserts that `promise` rejects with an EdgeFleetError of `code`; returns the error. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    const actual = (error as { code?: unknown }).code;
    if (actual !== code) {
      throw new Error(`expected EdgeFleetError ${code}, got ${String(actual)}: ${String(error)}`, {
        cause: error,
      });
    }
    return error as Error;
  }
  throw new Error(`expected EdgeFleetError ${code}, but the promise resolved`);
}
