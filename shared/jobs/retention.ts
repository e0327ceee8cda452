/**
 * How much of its finished work each BullMQ queue keeps in Redis. The resource records
 * are the lasting truth (job status is answered from them once a job is gone:
 * api/routes/jobs.ts), so these bound memory and keep a recent window for bull-board.
 */

/**
 * Completed jobs kept per queue (`removeOnComplete.count`), trimmed as each job
 * completes. A completed ingest job is ~1.2 KB; with 1,000 kept the ingest queue's
 * master held ~1.2 MB more than the others.
 */
export const COMPLETED_KEPT = 100;

/**
 * Entries kept in each queue's events stream (`streams.events.maxLen`; BullMQ's
 * default is 10,000, ~6 entries a job, ~1 MB on the ingest queue's master). Readers
 * (JobEvents: upload and render waits) follow it live and poll the records as well,
 * so a shorter stream costs them nothing.
 */
export const EVENTS_MAX_LEN = 1_000;
