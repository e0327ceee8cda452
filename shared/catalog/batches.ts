import { ConflictError, NotFoundError } from '../errors.js';
import { keyPrefix, type RedisConnection } from '../redis.js';
import { catalogKeys } from './keys.js';

export type BatchState = 'running' | 'paused' | 'cancelled' | 'completed' | 'failed';
export type BatchOutcome = 'done' | 'failed' | 'skipped';

/**
 * A bulk revert (`POST /v1/reprocess`), or a scan of an external library (`kind: 'scan'`,
 * POST /v1/libraries/{id}/scan; its cursor is a position in the source's listing, a
 * string): what it covers and how far it got.
 */
export interface Batch {
  id: number;
  kind?: 'scan';
  state: BatchState;
  /** Why a `failed` batch failed (a scan whose listing failed). */
  error?: string;
  /** Library id, or null for every library. */
  library: number | null;
  /** Only resources whose mappings version is older than `mappingsVersion`. */
  staleOnly: boolean;
  reread: boolean;
  renditions: boolean;
  /** The mappings version current when the batch was created. */
  mappingsVersion: number;
  /** Size of the index when the batch was created: the upper bound of `total`. */
  indexSize: number;
  /** Last resource id read from the index (ids are paged in ascending order); a scan's position (a string). */
  cursor: number | string;
  scanned: number;
  /** Jobs enqueued so far; the final total once `enqueuedAll`. */
  enqueued: number;
  enqueuedAll: boolean;
  done: number;
  failed: number;
  /** Resources deleted or replaced before their turn, and jobs of a cancelled batch. */
  skipped: number;
  /** A scan's resources found gone from the source, and those deleted after EXTERNAL_MISSING_GRACE. */
  missing?: number;
  deleted?: number;
  created: string;
  finished: string | null;
}

export interface NewBatch {
  kind?: 'scan';
  library: number | null;
  staleOnly: boolean;
  reread: boolean;
  renditions: boolean;
  mappingsVersion: number;
  indexSize: number;
}

const FINISH = `
local function finishIfDone(key, seen, now)
  local h = redis.call('HMGET', key, 'enqueuedAll', 'enqueued', 'done', 'failed', 'skipped', 'state')
  if h[1] == '1' and h[6] == 'running' and tonumber(h[3]) + tonumber(h[4]) + tonumber(h[5]) >= tonumber(h[2]) then
    redis.call('HSET', key, 'state', 'completed', 'finished', now)
    redis.call('DEL', seen)
  end
end
`;

/**
 * The atomic parts, as Lua: every counter changes with the check it depends on, so a
 * crash between two Redis calls can never lose or double a count.
 */
const SCRIPTS = {
  /**
   * The fan-out moves the cursor by compare-and-set: if a second copy of the fan-out
   * runs (a stalled job re-run while its successor was already queued), only one of
   * them advances and the other stops.
   * KEYS: batch, seen · ARGV: expected cursor, new cursor, scanned+, enqueued+, last (1|0), now → 1 | 0
   */
  miBatchAdvance: {
    numberOfKeys: 2,
    lua: `${FINISH}
local h = redis.call('HMGET', KEYS[1], 'cursor', 'state')
if h[1] ~= ARGV[1] or h[2] ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'scanned', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'enqueued', ARGV[4])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'enqueuedAll', '1')
  finishIfDone(KEYS[1], KEYS[2], ARGV[6])
end
return 1`,
  },
  /**
   * One resource's job ended. The bit per resource id makes a re-run (stalled-job
   * recovery, a chunk enqueued again after a crash) count once.
   * KEYS: batch, seen · ARGV: resource id, outcome field, now → 1 counted | 0 already counted or batch over
   */
  miBatchCount: {
    numberOfKeys: 2,
    lua: `${FINISH}
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' and state ~= 'paused' then return 0 end
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 1 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
finishIfDone(KEYS[1], KEYS[2], ARGV[3])
return 1`,
  },
  /**
   * miBatchCount for a page of resources at once (a re-map page's outcomes).
   * KEYS: batch, seen · ARGV: now, then resource id and outcome field pairs → how many were counted
   */
  miBatchCountMany: {
    numberOfKeys: 2,
    lua: `${FINISH}
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' and state ~= 'paused' then return 0 end
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('SETBIT', KEYS[2], ARGV[i], 1) == 0 then
    redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)
    n = n + 1
  end
end
finishIfDone(KEYS[1], KEYS[2], ARGV[1])
return n`,
  },
  /** KEYS: batch, seen · ARGV: new state, now, allowed from-states… → 1 | 0 */
  miBatchSetState: {
    numberOfKeys: 2,
    lua: `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
for i = 3, #ARGV do
  if state == ARGV[i] then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    if ARGV[1] == 'cancelled' then
      redis.call('HSET', KEYS[1], 'finished', ARGV[2])
      redis.call('DEL', KEYS[2])
    end
    return 1
  end
end
return 0`,
  },
} as const;

type BatchRedis = RedisConnection & {
  miBatchAdvance(
    key: string,
    seen: string,
    expected: string,
    cursor: string,
    scanned: string,
    enqueued: string,
    last: string,
    now: string,
  ): Promise<number>;
  miBatchCount(key: string, seen: string, id: string, field: string, now: string): Promise<number>;
  miBatchCountMany(key: string, seen: string, now: string, ...idsAndFields: string[]): Promise<number>;
  miBatchSetState(key: string, seen: string, to: string, now: string, ...from: string[]): Promise<number>;
};

/** The "seen" bitmap is deleted when a batch ends; the expiry only catches an abandoned one. */
const SEEN_TTL_SECONDS = 30 * 24 * 3600;

export class BatchStore {
  private readonly redis: BatchRedis;
  private readonly p: string;
  private readonly seq: string;

  constructor(redis: RedisConnection, prefix: string) {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    }
    this.redis = redis as BatchRedis;
    this.p = keyPrefix(prefix);
    this.seq = catalogKeys(prefix).batchSeq;
  }

  private key(id: number): string {
    return `${this.p}:batch:${id}`;
  }

  private seen(id: number): string {
    return `${this.p}:batch:${id}:seen`;
  }

  async create(input: NewBatch): Promise<Batch> {
    const id = await this.redis.incr(this.seq);
    const batch: Batch = {
      id,
      state: 'running',
      ...input,
      cursor: input.kind === 'scan' ? '' : 0,
      scanned: 0,
      enqueued: 0,
      enqueuedAll: false,
      done: 0,
      failed: 0,
      skipped: 0,
      created: new Date().toISOString(),
      finished: null,
    };
    await this.redis.multi().hset(this.key(id), encode(batch)).zadd(`${this.p}:batches`, id, String(id)).exec();
    return batch;
  }

  async get(id: number): Promise<Batch | undefined> {
    return decode(await this.redis.hgetall(this.key(id)));
  }

  async require(id: number): Promise<Batch> {
    const b = await this.get(id);
    if (!b) throw new NotFoundError('batch', id);
    return b;
  }

  /** @returns false when the cursor moved meanwhile (another fan-out owns the batch) or the batch is not running */
  async advance(
    id: number,
    expectedCursor: number | string,
    cursor: number | string,
    scanned: number,
    enqueued: number,
    last: boolean,
  ): Promise<boolean> {
    const ok = await this.redis.miBatchAdvance(
      this.key(id),
      this.seen(id),
      String(expectedCursor),
      String(cursor),
      String(scanned),
      String(enqueued),
      last ? '1' : '0',
      new Date().toISOString(),
    );
    if (ok === 1 && enqueued > 0) await this.redis.expire(this.seen(id), SEEN_TTL_SECONDS);
    return ok === 1;
  }

  /** A number from the batch ids' sequence, for what sees external entries outside a batch (events). */
  async nextId(): Promise<number> {
    return this.redis.incr(this.seq);
  }

  /** Adds to a scan's tally of missing or deleted resources. */
  async tally(id: number, field: 'missing' | 'deleted', n: number): Promise<void> {
    if (n > 0) await this.redis.hincrby(this.key(id), field, n);
  }

  /** Ends a running or paused batch as failed, with the reason. */
  async fail(id: number, reason: string): Promise<void> {
    const state = await this.redis.hget(this.key(id), 'state');
    if (state !== 'running' && state !== 'paused') return;
    // The reason first: a client that sees `failed` must see why.
    await this.redis.hset(this.key(id), 'error', reason);
    await this.redis.miBatchSetState(this.key(id), this.seen(id), 'failed', new Date().toISOString(), 'running', 'paused');
  }

  /** Counts one resource's outcome once, however often its job ran. */
  async count(id: number, resourceId: number, outcome: BatchOutcome): Promise<boolean> {
    return (await this.redis.miBatchCount(this.key(id), this.seen(id), String(resourceId), outcome, new Date().toISOString())) === 1;
  }

  /**
   * Counts many resources' outcomes in one script, each once however often its page ran.
   * @returns how many were counted now (0 for those counted before, or a batch that is over)
   */
  async countMany(id: number, outcomes: readonly (readonly [resourceId: number, outcome: BatchOutcome])[]): Promise<number> {
    if (outcomes.length === 0) return 0;
    const args = outcomes.flatMap(([rid, o]) => [String(rid), o]);
    return this.redis.miBatchCountMany(this.key(id), this.seen(id), new Date().toISOString(), ...args);
  }

  /** Moves the batch to `to` if it is in one of `from`; otherwise a 409 saying where it is. */
  async transition(id: number, to: BatchState, from: BatchState[]): Promise<Batch> {
    const r = await this.redis.miBatchSetState(this.key(id), this.seen(id), to, new Date().toISOString(), ...from);
    if (r === -1) throw new NotFoundError('batch', id);
    const b = await this.require(id);
    if (r === 0 && b.state !== to) {
      throw new ConflictError(`Batch ${id} is ${b.state}; it can become ${to} only when ${from.join(' or ')}.`, { state: b.state });
    }
    return b;
  }
}

const BOOL = new Set(['staleOnly', 'reread', 'renditions', 'enqueuedAll']);
const NUM = new Set([
  'id',
  'mappingsVersion',
  'indexSize',
  'cursor',
  'scanned',
  'enqueued',
  'done',
  'failed',
  'skipped',
  'missing',
  'deleted',
]);

function encode(b: Batch): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(b)) out[k] = v === null ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  return out;
}

function decode(h: Record<string, string>): Batch | undefined {
  if (!h.id) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (BOOL.has(k)) out[k] = v === '1';
    else if (NUM.has(k)) out[k] = Number(v);
    else out[k] = v;
  }
  out.library = h.library ? Number(h.library) : null;
  // A scan's cursor is a position in its source's listing.
  if (h.kind === 'scan') out.cursor = h.cursor ?? '';
  out.finished = h.finished || null;
  return out as unknown as Batch;
}
