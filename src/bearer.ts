/** A bearer token checked in constant time (HTTP ingest, the route API): null when it matches, else why not. */
import { timingSafeEqual } from 'node:crypto';

export function bearerProblem(authorization: string | undefined, token: string): string | null {
  const m = /^Bearer (.+)$/.exec(authorization ?? '');
  if (!m) return 'missing Authorization: Bearer <token>';
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b) ? null : 'the bearer token is not valid';
}
