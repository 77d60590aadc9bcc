/** Channel filter syntax (src/salesforce/channel-filter.ts): Salesforce's documented examples pass, the rest says why not. */
import { describe, expect, it } from 'vitest';
import { channelFilterProblem } from '../../src/salesforce/channel-filter.js';

describe('channel filter syntax', () => {
  it('accepts the documented examples', () => {
    for (const ok of [
      "Industry = 'Agriculture'",
      "Industry LIKE 'A%'",
      'LastViewedDate > 2021-11-03T09:30:11-08:00',
      'OpenTime__c >= 14:30:00Z',
      "ChangeEventHeader.changeType = 'UPDATE'",
      "Industry = 'Agriculture' AND NumberOfEmployees > 1000",
      "NumberOfEmployees > 1000 AND (Industry = 'Agriculture' OR Industry = 'Banking')",
      "City__c = 'San Francisco'",
      "(City__c='Paris')AND(Amount__c>=10.5)",
      "Industry IN ('Energy', 'Utilities')",
      "Industry NOT IN ('Retail')",
      "BillingAddress.City = 'Paris'",
      'Active__c = true',
      'Birthdate__c = 2020-01-31',
      "Note__c = 'it\\'s'",
    ])
      expect(channelFilterProblem(ok), ok).toBeNull();
  });

  it('refuses the rest with where and why', () => {
    expect(channelFilterProblem('')).toBe('the filter expression is empty');
    expect(channelFilterProblem("Industry == 'x'")).toMatch(/not a value|expected/);
    expect(channelFilterProblem("Industry = 'x")).toMatch(/no closing quote/);
    expect(channelFilterProblem("(Industry = 'x'")).toMatch(/expected \) at the end/);
    expect(channelFilterProblem("Industry = 'x' Name = 'y'")).toMatch(/expected AND, OR or the end at character 16/);
    expect(channelFilterProblem("Industry IN 'x'")).toMatch(/\( after IN/);
    expect(channelFilterProblem("ChangeEventHeader.recordIds = 'x'")).toMatch(/array field/);
  });
});
