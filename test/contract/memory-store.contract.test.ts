import { MemoryStore } from '../../src/cache/stores/memory-store.js';
import { describeCacheStoreContract } from './cache-store.contract.js';

describeCacheStoreContract('MemoryStore', async () => new MemoryStore());
