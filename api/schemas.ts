import { z } from '@hono/zod-openapi';

/**
 * The problem+json body of every error (RFC 9457; rendered by `problemBody` in
 * api/error-handler.ts): one schema, `Problem` in the document, for every route.
 * Extension members (`limit`, `matches`, `retryAfter`, …) ride along.
 */
export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:media-ingest:problem:not_found' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().openapi({ description: 'One line saying what was expected and what came.' }),
    instance: z.string(),
    code: z.string().openapi({ description: 'Stable error code (docs/api.md)' }),
    requestId: z.string().optional(),
  })
  .passthrough()
  .openapi('Problem');

/** The `content` of an error response in a route's OpenAPI definition. */
export const problem = { 'application/problem+json': { schema: problemSchema } };

/** A route's required JSON request body of `schema`. */
export function jsonBody<T>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } };
}

/**
 * A route's error responses, each a problem+json body, from their descriptions:
 * `...problems({ 400: 'Bad limit', 404: 'No such library' })` in its `responses`.
 */
export function problems<S extends number>(descriptions: Record<S, string>): Record<S, { description: string; content: typeof problem }> {
  return Object.fromEntries(
    Object.entries(descriptions).map(([status, description]) => [status, { description, content: problem }]),
  ) as Record<S, { description: string; content: typeof problem }>;
}

/**
 * A member the route's handler checks itself, with messages clients and tests rely on:
 * documented with `doc`, accepted as anything by the schema so the handler's check and
 * its wording decide.
 */
export function checkedByHandler(doc: Record<string, unknown>) {
  // The metadata is an OpenAPI schema object; its type is not exported by @hono/zod-openapi.
  return z
    .any()
    .optional()
    .openapi(doc as never);
}

/** As `checkedByHandler`, for a member the route's middleware has already required (listed as required). */
export function requiredCheckedByHandler(doc: Record<string, unknown>) {
  return z
    .unknown()
    .nonoptional()
    .openapi(doc as never);
}

/** A path id the handler parses (an unknown or malformed one is a 404 there, not a 400). */
export const numericId = (description: string) => z.string().openapi({ description, pattern: '^[0-9]+$', example: '42' });
