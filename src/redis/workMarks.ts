// Where holders of a consumer group's partitions leave their marks (policy/crashLoop.ts): one hash
// per group, a field per partition. Written before work, read by a partition's next holder, taken
// away on a graceful hand-over.
import { randomUUID } from 'node:crypto';
import { formatMark, parseMark, type WorkMark } from '../policy/crashLoop.ts';
import type { RedisKeys } from './keys.ts';

export interface WorkMarkRedis {
  markWork(key: string, partition: number, mark: string, ttlMs: number): Promise<unknown>;
  releaseWork(key: string, owner: string, ...partitions: number[]): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
}

const KEEP_MS = 30 * 86_400_000;

export class WorkMarks {
  /** This holder's token: a new one per process start, so a restarted process is a new holder. */
  readonly owner = randomUUID();
  private readonly redis: WorkMarkRedis;
  private readonly key: string;

  constructor(options: { redis: WorkMarkRedis; keys: RedisKeys; groupId: string }) {
    this.redis = options.redis;
    this.key = options.keys.workMarks(options.groupId);
  }

  read(partition: number): Promise<WorkMark | undefined> {
    return this.redis.hget(this.key, String(partition)).then(parseMark);
  }

  /** Resolves once Redis has the mark. */
  async write(partition: number, mark: Omit<WorkMark, 'owner'>): Promise<void> {
    await this.redis.markWork(this.key, partition, formatMark({ ...mark, owner: this.owner }), KEEP_MS);
  }

  async release(partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0) return;
    await this.redis.releaseWork(this.key, this.owner, ...partitions);
  }
}
