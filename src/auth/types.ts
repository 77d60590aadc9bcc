/** Supplies Salesforce credentials to subscribers and REST callers (see the auth issue). */

export interface AccessToken {
  accessToken: string;
  instanceUrl: string;
  /** 18-character org id (the Pub/Sub `tenantid`). */
  orgId: string;
  /** Epoch ms after which the token is expected to be invalid, when known. */
  expiresAt?: number;
}

export interface TokenProvider {
  /** The current token, fetching or refreshing it when needed (single flight). */
  getToken(): Promise<AccessToken>;
  /** The token was rejected (401 / UNAUTHENTICATED): the next getToken fetches a new one. */
  invalidate(rejected?: string): void;
  describe(): string;
}
