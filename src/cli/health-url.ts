/** Where a running bridge's health endpoint answers, from its config (a wildcard bind is reached on loopback). */
export function healthBaseUrl(health: { host: string; port: number }): string {
  const host = health.host === '0.0.0.0' || health.host === '::' ? '127.0.0.1' : health.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${health.port}`;
}
