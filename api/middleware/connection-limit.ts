import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { problemResponse } from '../error-handler.js';
import { normaliseAddress } from './auth-throttle.js';
import { nodeIo } from '../deps.js';

const overLimit = new WeakSet<Socket>();

/** How long a refused connection may stay open to receive its 429. */
const REFUSED_GRACE_MS = 2000;

/**
 * At most `max` open connections per client address (IPv6: per /64). One more is kept
 * only long enough to answer its first request with 429 and close (`connectionLimit`);
 * a client that holds connections open without finishing them thus holds `max` of them,
 * never the server's file descriptors and memory. 0: no limit.
 */
export function limitConnectionsPerClient(server: Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = normaliseAddress(socket.remoteAddress ?? 'unknown');
    const count = open.get(address) ?? 0;
    if (count >= max) {
      overLimit.add(socket);
      setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

/** Answers the request of a connection past the limit with 429 and closes it. */
export function connectionLimit(max: number): MiddlewareHandler {
  return async (c, next) => {
    const socket = nodeIo(c).incoming?.socket;
    if (!socket || !overLimit.has(socket)) return next();
    c.header('Connection', 'close');
    return problemResponse(c, {
      status: 429,
      code: 'rate_limited',
      detail: `Your address has ${max} connections open to this server (MAX_CONNECTIONS_PER_CLIENT); reuse them, or close some before opening more.`,
      extra: { limit: max, retryAfter: 1 },
    });
  };
}
