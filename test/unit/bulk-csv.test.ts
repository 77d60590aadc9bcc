import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/salesforce/bulk-export.js';
import { changeEventEntity } from '../../src/salesforce/topics.js';

describe('Bulk API CSV and snapshot topics', () => {
  it('parses quoted cells, doubled quotes, line breaks inside quotes, CRLF and empty cells', () => {
    const text = 'Id,Name,Description\r\n001,"Acme, Inc.","line one\nline ""two"""\r\n002,,\n';
    expect(parseCsv(text)).toEqual([
      ['Id', 'Name', 'Description'],
      ['001', 'Acme, Inc.', 'line one\nline "two"'],
      ['002', '', ''],
    ]);
  });
  it('knows the object behind a single-object change event topic', () => {
    expect(changeEventEntity('/data/AccountChangeEvent')).toBe('Account');
    expect(changeEventEntity('/data/Invoice__ChangeEvent')).toBe('Invoice__c');
    expect(changeEventEntity('/data/ChangeEvents')).toBeNull();
    expect(changeEventEntity('/event/Order_Event__e')).toBeNull();
  });
});

describe('API allowance', () => {
  it('names the first allowance an export spends that is under the reserve', async () => {
    const { lowAllowance } = await import('../../src/salesforce/limits.js');
    expect(lowAllowance({ DailyApiRequests: { Max: 100, Remaining: 5 } }, 10)).toEqual({
      name: 'DailyApiRequests',
      remaining: 5,
      max: 100,
    });
    expect(lowAllowance({ DailyBulkV2QueryFileStorageMB: { Max: 1000, Remaining: 50 } }, 10)?.name).toBe('DailyBulkV2QueryFileStorageMB');
    expect(
      lowAllowance({ DailyApiRequests: { Max: 100, Remaining: 50 }, DailyStreamingApiEvents: { Max: 10, Remaining: 0 } }, 10),
    ).toBeNull();
  });
});
