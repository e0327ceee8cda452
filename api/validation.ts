import type { Hook } from '@hono/zod-openapi';
import { InvalidRequestError } from '../shared/errors.js';

/**
 * What a request that fails its route's schema gets: the same problem+json 400 as any
 * other bad input (api/error-handler.ts), naming each member that is wrong and what was
 * expected, instead of the validator's own JSON.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the hook is shared by routes of every schema
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : `the ${result.target}`}: ${i.message}`);
  throw new InvalidRequestError(`The request does not match its schema (${result.target}): ${problems.join('; ')}.`, { problems });
};
