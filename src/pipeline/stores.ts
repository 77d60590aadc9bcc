/** The replay and dead-letter stores a config names (the bridge and the CLI tools share them). */
import type { BridgeConfig } from '../config/schema.js';
import type { DeadLetterStore } from '../deadletter/types.js';
import type { Logger } from '../log.js';
import { deadLetterStoreTypes, lookup, replayStoreTypes } from '../registry.js';
import type { ReplayStore } from '../replay/types.js';

export function createReplayStore(config: BridgeConfig, log: Logger): ReplayStore {
  return lookup(replayStoreTypes, config.replayStore.type).create(config.replayStore, { route: '', log });
}

export function createDeadLetterStore(config: BridgeConfig, log: Logger): DeadLetterStore {
  return lookup(deadLetterStoreTypes, config.deadLetter.type).create(config.deadLetter, { route: '', log });
}
