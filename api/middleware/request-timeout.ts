import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { nodeIo } from '../deps.js';
import { problemBody } from '../error-handler.js';

const timers = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/**
 * A request with a body must have sent all of it within `ms` of its headers — unless
 * the route lets go first (`releaseDeadline`), which upload routes do once the client is
 * authenticated and the file's bytes start to flow. So a client that trickles a JSON
 * body, a form, or the fields before a face's signature is cut, while an upload of
 * gigabytes is held only to SOCKET_IDLE_TIMEOUT_MS. When the time is up and the body is
 * still incomplete, the client gets a 408 and the connection is closed; the handler
 * then sees the body end early, as for a client that went away.
 *
 * Node's own `requestTimeout` cannot do this: it covers whole requests, uploads too.
 */
export function requestDeadline(ms: number): MiddlewareHandler {
  return async (c, next) => {
    const incoming = incomingOf(c);
    if (!incoming || !hasBody(incoming)) return next();
    timers.set(
      incoming,
      setTimeout(() => expire(incoming, ms), ms),
    );
    try {
      await next();
    } finally {
      clearTimeout(timers.get(incoming));
      timers.delete(incoming);
    }
  };
}

/** The route takes the body from here on (an authenticated upload's file bytes): no deadline. */
export function releaseDeadline(c: Context): void {
  const incoming = incomingOf(c);
  if (!incoming) return;
  clearTimeout(timers.get(incoming));
  timers.delete(incoming);
}

function expire(incoming: IncomingMessage, ms: number): void {
  timers.delete(incoming);
  // Every byte arrived: the handler is merely working (or waiting for a job), not the client.
  if (incoming.complete) return;
  const socket = incoming.socket;
  if (socket.destroyed) return;
  const detail = `The request body did not arrive within ${ms} ms (REQUEST_TIMEOUT_MS); send it at once.`;
  const body = JSON.stringify(problemBody({ status: 408, code: 'request_timeout', detail }, (incoming.url ?? '/').split('?')[0]!));
  // Written to the socket: the response object belongs to the handler, which is still
  // waiting for the body and will find the connection gone.
  socket.write(
    `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon();
}

function incomingOf(c: Context): IncomingMessage | undefined {
  return nodeIo(c).incoming;
}

function hasBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers['content-length'];
  return (length !== undefined && length !== '0') || incoming.headers['transfer-encoding'] !== undefined;
}
