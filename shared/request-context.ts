import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the current HTTP request is, wherever the code runs on its behalf — so the
 * upload service can put the request id into the job it enqueues (the worker logs it)
 * without every face and every service passing it down by hand.
 */
export interface RequestContext {
  requestId: string;
  /** A completion webhook asked for with this upload (api/middleware/webhook-url.ts). */
  webhookUrl?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runInRequest<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The context of the request this code runs for; undefined outside a request. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

/** The id of the request this code runs for; undefined outside a request (workers, CLI). */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
