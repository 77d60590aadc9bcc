import { describe, expect, it } from 'vitest';
import { toId18 } from '../../src/salesforce/ids.js';

describe('Salesforce ids', () => {
  it('expands a 15-character id with the public case checksum and leaves other forms alone', () => {
    expect(toId18('00D5g00000Emu01')).toBe('00D5g00000Emu01EAB');
    expect(toId18('001000000000000')).toBe('001000000000000AAA');
    expect(toId18('ABCDEabcdeABCDE')).toBe('ABCDEabcdeABCDE5A5');
    expect(toId18('00D5g00000Emu01EAB')).toBe('00D5g00000Emu01EAB');
    expect(toId18('not-an-id')).toBe('not-an-id');
  });
});

describe('JWT audience', () => {
  it('is login or test for Salesforce hosts (My Domain included), the URL itself elsewhere', async () => {
    const { jwtAudience } = await import('../../src/salesforce/ids.js');
    expect(jwtAudience('https://login.salesforce.com')).toBe('https://login.salesforce.com');
    expect(jwtAudience('https://acme.my.salesforce.com/')).toBe('https://login.salesforce.com');
    expect(jwtAudience('https://acme--uat.sandbox.my.salesforce.com')).toBe('https://test.salesforce.com');
    expect(jwtAudience('https://test.salesforce.com')).toBe('https://test.salesforce.com');
    expect(jwtAudience('https://community.acme.com/partners/')).toBe('https://community.acme.com/partners');
    expect(jwtAudience('https://127.0.0.1:8443')).toBe('https://127.0.0.1:8443');
  });
});
