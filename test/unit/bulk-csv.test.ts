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
