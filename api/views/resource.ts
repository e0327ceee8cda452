import { withoutSecrets } from '../../shared/external/source.js';
import type { Library, Resource, ResourceRecord } from '../../shared/model.js';

/** A resource as clients see it: the Domain fields, plus links; internal keys stay inside. */
export function resourceView(
  rec: ResourceRecord,
  metadata?: Record<string, unknown>,
): Omit<Resource, 'storageKey' | 'declaredType' | 'metadata'> & {
  metadata?: Record<string, unknown>;
  links: Record<string, string>;
} {
  const { storageKey: _k, declaredType: _d, ...rest } = rec;
  return {
    ...rest,
    ...(metadata ? { metadata } : {}),
    links: { self: `/v1/resources/${rec.id}`, job: `/v1/jobs/${rec.jobId}` },
  };
}

export function libraryView(lib: Library) {
  // A source's credentials are never shown (sourceView).
  return {
    ...withoutSecrets(lib),
    links: {
      self: `/v1/libraries/${lib.id}`,
      files: `/v1/libraries/${lib.id}/files`,
      ...(lib.source ? { scan: `/v1/libraries/${lib.id}/scan` } : {}),
    },
  };
}
