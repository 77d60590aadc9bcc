/**
 * A Salesforce sink's `mapping`: a JSONata expression from the envelope to the fields to write
 * (`'{ "OrderNumber__c": payload.order }'`). Without one, the payload's own fields are written.
 * Compiled once per expression (the shaping cache); a result that is not an object, or an
 * expression that throws, is that event's rejection with the reason.
 */
import { type Envelope, JsonPayload, payloadValue } from '../envelope.js';
import { type Compiled, compileExpression, expressionMessage } from '../shaping/expression.js';

export type Mapped = { fields: Record<string, unknown> } | { error: string };

export class FieldMapping {
  private readonly expr: Compiled | null;

  constructor(text: string | undefined) {
    this.expr = text ? compileExpression(text) : null;
  }

  async map(e: Envelope): Promise<Mapped> {
    let out: unknown;
    if (this.expr) {
      try {
        // A payload still held as JSON text is parsed for the expression; otherwise the envelope goes as it is.
        out = await this.expr.evaluate(e.payload instanceof JsonPayload ? { ...e, payload: payloadValue(e) } : e);
      } catch (err) {
        return { error: `mapping failed: ${expressionMessage(err)}` };
      }
    } else out = payloadValue(e);
    if (!out || typeof out !== 'object' || Array.isArray(out))
      return {
        error: `mapping gave ${out === undefined ? 'nothing' : Array.isArray(out) ? 'an array' : typeof out}, not an object of fields`,
      };
    return { fields: out as Record<string, unknown> };
  }
}

/** For `check`: why a mapping does not compile, or null. */
export function mappingProblem(text: string | undefined): string | null {
  if (!text) return null;
  try {
    compileExpression(text);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
