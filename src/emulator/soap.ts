/**
 * The SOAP API's `login()` (partner endpoint `/services/Soap/u/<version>`), as the official
 * examples' username/password path and EMP-Connector call it: a session id, the server URL, the
 * user and org ids in a `loginResponse`, or the documented `INVALID_LOGIN` fault (HTTP 500).
 * Salesforce retires login() in Summer '27 and does not offer it from API version 65.0 on;
 * the emulator refuses those versions the same way (docs/salesforce-fidelity.md).
 */
import type { ServerResponse } from 'node:http';
import type { OAuthServer } from './oauth.js';

const ENVELOPE = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

function xmlText(s: string): string {
  return s.replace(/&(lt|gt|amp|apos|quot);/g, (_m, e: string) => ({ lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' })[e] as string);
}

/** The text of the first element with this local name (any namespace prefix). */
function element(xml: string, name: string): string | null {
  const m = new RegExp(`<(?:\\w+:)?${name}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:\\w+:)?${name}>`).exec(xml);
  return m ? xmlText(m[1] as string) : null;
}

function fault(res: ServerResponse, code: string, message: string): void {
  const body = `<soapenv:Fault><faultcode>sf:${code}</faultcode><faultstring>${code}: ${xmlEscape(message)}</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>${code}</sf:exceptionCode><sf:exceptionMessage>${xmlEscape(message)}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>`;
  res.writeHead(500, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(ENVELOPE(body));
}

export function soapLogin(oauth: OAuthServer, instanceUrl: string, version: string, xml: string, res: ServerResponse): void {
  if (Number(version) >= 65) {
    fault(res, 'INVALID_OPERATION', `login() is not available in API version ${version}; use OAuth`);
    return;
  }
  if (!/<(?:\w+:)?login[\s>]/.test(xml)) {
    fault(res, 'INVALID_OPERATION', 'only login() is served here');
    return;
  }
  const username = element(xml, 'username');
  const password = element(xml, 'password');
  const session = username !== null && password !== null ? oauth.soapLogin(username, password) : null;
  if (!session) {
    fault(res, 'INVALID_LOGIN', 'Invalid username, password, security token; or user locked out.');
    return;
  }
  const { orgId, userId } = oauth.ids;
  const result = [
    `<metadataServerUrl>${instanceUrl}/services/Soap/m/${version}/${orgId}</metadataServerUrl>`,
    '<passwordExpired>false</passwordExpired>',
    '<sandbox>false</sandbox>',
    `<serverUrl>${instanceUrl}/services/Soap/u/${version}/${orgId}</serverUrl>`,
    `<sessionId>${session}</sessionId>`,
    `<userId>${userId}</userId>`,
    `<userInfo><organizationId>${orgId}</organizationId><userId>${userId}</userId><userName>${xmlEscape(username ?? '')}</userName><sessionSecondsValid>7200</sessionSecondsValid></userInfo>`,
  ].join('');
  res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(ENVELOPE(`<loginResponse><result>${result}</result></loginResponse>`));
}
