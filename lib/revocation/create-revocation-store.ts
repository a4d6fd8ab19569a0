import { Logger } from '@nestjs/common';
import {
  AuthConfigurationError,
  type ResolvedAuthOptions,
} from '../auth-options.js';
import { MemoryRevocationStore } from './memory-revocation.store.js';
import type { RevocationStore } from './revocation-store.js';

/** A store the module made (and so closes at shutdown), or one the app gave. */
export interface ConfiguredRevocationStore {
  readonly store: RevocationStore;
  readonly owned: boolean;
}

/** Whether an import failed because the package is not installed. */
function isMissingPackage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Builds the store the `revocation` option names. The Redis store's file, and `ioredis`
 * with it, is loaded only when a Redis URL is configured.
 *
 * @throws AuthConfigurationError when a Redis URL is configured and `ioredis` is missing.
 */
export async function createRevocationStore(
  options: ResolvedAuthOptions,
): Promise<ConfiguredRevocationStore | undefined> {
  const revocation = options.revocation;
  if (revocation === undefined) return undefined;
  const { store, maxEntries, keyPrefix } = revocation;
  if (typeof store !== 'string') return { store, owned: false };
  if (store === 'memory') {
    return { store: new MemoryRevocationStore({ maxEntries }), owned: true };
  }
  let loaded: typeof import('./redis-revocation.store.js');
  try {
    loaded = await import('./redis-revocation.store.js');
  } catch (error) {
    if (!isMissingPackage(error)) throw error;
    throw new AuthConfigurationError(
      'revocation.store',
      'is a Redis URL, which needs the ioredis package (npm install ioredis).',
    );
  }
  const logger = new Logger('nestjs-bearer');
  return {
    store: new loaded.RedisRevocationStore({
      url: store,
      keyPrefix,
      maxEntries,
      logger: {
        log: (message) => logger.log(message),
        warn: (message) => logger.warn(message),
        debug: (message) => logger.debug(message),
      },
    }),
    owned: true,
  };
}
