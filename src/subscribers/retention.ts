/**
 * How long Salesforce keeps a channel's events when the config does not say: 72 h for change and
 * platform events, 24 h for PushTopic (/topic/) and generic (/u/) streaming.
 */
export function defaultRetentionHours(channel: string): number {
  return /^\/(topic|u)\//.test(channel) ? 24 : 72;
}
