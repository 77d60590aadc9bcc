/**
 * Keep the daemon's memory close to what it uses. V8 lets the old generation grow to a multiple of
 * its live size before a full collection; sfbridge's live set is small and bounded (maxInFlight)
 * but everything in flight for more than two young collections is promoted, so a steady stream
 * leaves a large, mostly dead old generation (measured: 275 MB RSS for ~40 MB live, Kafka
 * catch-up). A growing factor of 2 instead of V8's default (up to 4x) collects it sooner
 * (docs/benchmarks.md has the RSS and CPU cost). A flag given by the user (NODE_OPTIONS or the
 * command line) wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 100;

export function tuneHeap(): void {
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  if (/--heap[-_]growing[-_]percent/.test(given)) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
