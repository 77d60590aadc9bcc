/**
 * What a failed `/meta/handshake` or `/meta/connect` means. Salesforce answers a refused handshake
 * with `403::Handshake denied` and puts the real reason in `ext.sfdc.failureReason`: an invalid
 * token (`401::Authentication invalid`), the org's concurrent client limit, or `503::Server is
 * too busy`. Treating every denied handshake as an auth failure refreshes tokens in a loop while
 * the real cause (a limit) goes unreported. A spent delivery allocation arrives on /meta/connect as
 * `403::Organization total events daily limit exceeded` (platform-event allocations page).
 */

export type MetaAction = 'reauth' | 'rehandshake' | 'retry' | 'stay-away' | 'log';

export interface MetaError {
  action: MetaAction;
  /** The text to report: the failure reason when there is one, else the error. */
  said: string;
  /** For `stay-away`: what it means and what helps. */
  fix?: string;
}

const CLIENT_LIMIT = /concurrent (user|client)s? limit|client limit|too many clients/i;
const DAILY_LIMIT = /daily limit|delivery (allocation|limit)/i;

export function classifyMetaError(channel: string, error: string, failureReason: string): MetaError {
  const said = failureReason ? `${error || 'handshake failed'} (${failureReason})` : error;
  const text = `${error} ${failureReason}`;
  if (DAILY_LIMIT.test(text))
    return {
      action: 'stay-away',
      said,
      fix: "the org's 24-hour event delivery allocation is spent; events are kept for their retention window and the bridge resumes from its position when the allocation frees up",
    };
  if (CLIENT_LIMIT.test(text))
    return {
      action: 'stay-away',
      said,
      fix: "the org's limit of concurrent CometD clients is reached (2,000; 20 on Developer Edition); stop other streaming clients",
    };
  if (failureReason.startsWith('401') || error.startsWith('401')) return { action: 'reauth', said };
  if (failureReason.startsWith('503') || error.startsWith('503')) return { action: 'retry', said };
  if (channel === '/meta/connect' && error.startsWith('403::Unknown client')) return { action: 'rehandshake', said };
  // A denied handshake without a reason: a bad or revoked token is the documented common cause.
  if (channel === '/meta/handshake' && error.startsWith('403::Handshake denied') && !failureReason) return { action: 'reauth', said };
  if (channel === '/meta/handshake') return { action: 'retry', said };
  return { action: 'log', said };
}
