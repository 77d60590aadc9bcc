import { inject } from 'vitest';
import type { ServiceInfo } from '../setup/services.js';

/** Where a service is, or why it is missing (tests use describe.skipIf(!svc.url)). */
export function service(name: 'kafka' | 'redis' | 'postgres' | 'sqs' | 'registry'): ServiceInfo {
  return inject('services')[name];
}
