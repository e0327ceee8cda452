import { keyPrefix, type RedisConnection } from '../redis.js';

/**
 * How a job ended when its resource did not survive it: a duplicate removed under the
 * `reject` policy, or resolved to an existing resource under `reuse`. The record is
 * gone then, so this small note (kept a week, like failed jobs) is what job status and
 * waiting clients read.
 */
export type JobOutcome =
  | { kind: 'duplicate'; resourceId: number; matches: number[]; message: string }
  | { kind: 'reused'; resourceId: number; resolvedTo: number };

const TTL_SECONDS = 7 * 24 * 3600;

export class OutcomeStore {
  private readonly p: string;
  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
  ) {
    this.p = keyPrefix(prefix);
  }

  private key(jobId: string): string {
    return `${this.p}:outcome:${jobId}`;
  }

  async set(jobId: string, outcome: JobOutcome): Promise<void> {
    await this.redis.set(this.key(jobId), JSON.stringify(outcome), 'EX', TTL_SECONDS);
  }

  async get(jobId: string): Promise<JobOutcome | undefined> {
    const v = await this.redis.get(this.key(jobId));
    return v ? (JSON.parse(v) as JobOutcome) : undefined;
  }

  async getMany(jobIds: readonly string[]): Promise<(JobOutcome | undefined)[]> {
    if (jobIds.length === 0) return [];
    const vals = await this.redis.mget(jobIds.map((j) => this.key(j)));
    return vals.map((v) => (v ? (JSON.parse(v) as JobOutcome) : undefined));
  }
}
