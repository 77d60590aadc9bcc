/** An error the emulated org answers with: HTTP status, Salesforce errorCode, message, fields. */
export class OrgError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly fields: string[] = [],
  ) {
    super(message);
  }
}
