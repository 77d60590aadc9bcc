import { inject } from 'vitest';
import type { Services } from '../setup/services.js';

/** Where a service is, or why it is missing (tests use describe.skipIf(!svc.url)). */
export function service<K extends keyof Services>(name: K): Services[K] {
  return inject('services')[name];
}
