import { z } from '@hono/zod-openapi';

/** The problem+json body of every error (api/error-handler.ts). */
export const problem = { 'application/problem+json': { schema: z.object({}).passthrough().openapi('Problem') } };

/**
 * A member the route's handler checks itself, with messages clients and tests rely on:
 * documented with `doc`, accepted as anything by the schema so the handler's check and
 * its wording decide.
 */
export function checkedByHandler(doc: Record<string, unknown>) {
  // The metadata is an OpenAPI schema object; its type is not exported by @hono/zod-openapi.
  return z.any().optional().openapi(doc as never);
}

/** As `checkedByHandler`, for a member the route's middleware has already required (listed as required). */
export function requiredCheckedByHandler(doc: Record<string, unknown>) {
  return z.unknown().nonoptional().openapi(doc as never);
}

/** A path id the handler parses (an unknown or malformed one is a 404 there, not a 400). */
export const numericId = (description: string) => z.string().openapi({ description, pattern: '^[0-9]+$', example: '42' });
