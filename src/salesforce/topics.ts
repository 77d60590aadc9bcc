/** Salesforce channel names. */

/**
 * The object behind a single-object change event topic: `/data/AccountChangeEvent` -> Account,
 * `/data/Invoice__ChangeEvent` -> Invoice__c; null for anything else (`/data/ChangeEvents`,
 * custom channels, platform events).
 */
export function changeEventEntity(topic: string): string | null {
  const m = /^\/data\/(\w+?)ChangeEvent$/.exec(topic);
  if (!m?.[1]) return null;
  return m[1].endsWith('__') ? `${m[1]}c` : m[1];
}
