/**
 * Is the CometD server alive? Asked when the org's client has had no /meta/connect answered for
 * longer than the watchdog while a channel waits for its replay to start: a fresh handshake that
 * Salesforce answers means the server is up and seeking the replay id (knowledge article
 * 005321562: after large data loads this can take hours), so rebuilding the client would only
 * start the seek over. No answer means the connection is dead, and the client is rebuilt. The
 * probe's client id is disconnected at once: Salesforce counts concurrent clients per org.
 */
import type { Agent } from 'node:http';
import type { TokenProvider } from '../../auth/types.js';
import { httpCall } from '../../http.js';

export async function cometdServerAnswers(
  tokens: TokenProvider,
  apiVersion: string,
  ca: string | null,
  agentFor: (url: string) => Agent | undefined,
  timeoutMs = 15_000,
): Promise<boolean> {
  const tok = await tokens.getToken();
  const url = `${tok.instanceUrl}/cometd/${apiVersion}`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${tok.accessToken}` };
  const agent = agentFor(url);
  const post = (msg: Record<string, unknown>) =>
    httpCall(url, { method: 'POST', headers, body: JSON.stringify([msg]), ca, timeoutMs, agent });
  try {
    const res = await post({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' });
    if (res.status !== 200) return false;
    const replies = JSON.parse(res.text) as Array<{ successful?: boolean; clientId?: string }>;
    if (!Array.isArray(replies)) return false;
    const reply = replies[0];
    if (reply?.successful && reply.clientId)
      await post({ channel: '/meta/disconnect', clientId: reply.clientId, id: '2' }).catch(() => null);
    return true;
  } catch {
    return false;
  }
}
