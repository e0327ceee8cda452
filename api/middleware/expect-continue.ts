import type { MiddlewareHandler } from 'hono';
import { nodeIo } from '../deps.js';

/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits for `100 Continue`
 * before sending the body. The server hands such requests to the app unanswered
 * (api/server.ts); this sends the 100 at once for every route except those matching
 * `decideFirst`, which send it themselves once the headers passed their checks
 * (api/upload/intake.ts `requestBody`). A refused upload then costs the client nothing.
 */
export function expectContinue(decideFirst: RegExp): MiddlewareHandler {
  return async (c, next) => {
    const outgoing = nodeIo(c).outgoing;
    if (outgoing && /100-continue/i.test(c.req.header('expect') ?? '') && !decideFirst.test(c.req.path) && !outgoing.headersSent) {
      outgoing.writeContinue();
    }
    await next();
  };
}
