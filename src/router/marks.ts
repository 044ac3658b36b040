// The router's work marks (policy/crashLoop.ts, redis/workMarks.ts): before working on a
// partition's records it marks them in Redis, takes its marks away when it hands partitions on,
// and on taking a partition over looks for the mark a dead holder left (a suspect range, routed
// one event at a time). Redis slow or absent never stops routing: a mark is waited for at most
// MARK_WAIT_MS (and a poison event is not caught meanwhile).
import { type Suspect, suspectOf, type WorkMark } from '../policy/crashLoop.ts';
import type { Logger } from '../telemetry/logger.ts';

/** Longest wait for a work mark before routing goes on without it. */
const MARK_WAIT_MS = 500;

/** How long a new holder waits for its predecessor's mark to be taken away (a graceful hand-over). */
const MARK_RELEASE_WAIT_MS = 1000;

/** Where the router marks what it holds (redis/workMarks.ts); the port it needs. */
export interface RouterWorkMarks {
  readonly owner: string;
  read(partition: number): Promise<WorkMark | undefined>;
  write(partition: number, mark: Omit<WorkMark, 'owner'>): Promise<void>;
  release(partitions: readonly number[]): Promise<void>;
}

export class RouterMarks {
  private readonly marks: RouterWorkMarks | undefined;
  private readonly log: Logger;
  private warnedAt = 0;

  constructor(marks: RouterWorkMarks | undefined, log: Logger) {
    this.marks = marks;
    this.log = log;
  }

  /** False without a mark store: no crash-loop protection. */
  get enabled(): boolean {
    return this.marks !== undefined;
  }

  /** What a dead predecessor held on this partition, if it left a mark (said in the log). */
  async suspect(partition: number): Promise<Suspect | undefined> {
    if (!this.marks) return undefined;
    const suspect = suspectOf(await this.foreignMark(partition), this.marks.owner);
    if (suspect) {
      this.log.warn(
        { partition, from: suspect.from, to: suspect.to, crashes: suspect.crashes },
        'the previous holder of this partition died holding these events: routing them one at a time',
      );
    }
    return suspect;
  }

  /**
   * Writes a work mark, waiting at most MARK_WAIT_MS: routing does not wait on a slow or absent
   * Redis (then a death is not seen, and a poison event is not caught until Redis is back).
   */
  async write(partition: number, mark: Omit<WorkMark, 'owner'>): Promise<void> {
    const marks = this.marks;
    if (!marks) return;
    let timer: NodeJS.Timeout | undefined;
    const written = await Promise.race([
      marks.write(partition, mark).then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), MARK_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!written && Date.now() - this.warnedAt >= 60_000) {
      this.warnedAt = Date.now();
      this.log.warn(
        { partition },
        `work mark not acknowledged within ${MARK_WAIT_MS} ms (Redis slow or unreachable, or this process busy): routing goes on, but a poison event is not caught meanwhile`,
      );
    }
  }

  /** Takes this router's marks of partitions it hands on away (a graceful hand-over is not a death). */
  release(partitions: number[]): Promise<void> {
    return (
      this.marks?.release(partitions).catch((err) => {
        this.log.warn(
          { err, partitions },
          'work marks not taken away: the next holder routes them one by one',
        );
      }) ?? Promise.resolve()
    );
  }

  /**
   * The mark another holder left on a partition and did not take away: a holder handing the
   * partition on gracefully takes its mark away as it rejoins, which may be a moment after this
   * router got the partition, so a mark is looked at again for up to MARK_RELEASE_WAIT_MS.
   */
  private async foreignMark(partition: number): Promise<WorkMark | undefined> {
    const marks = this.marks;
    if (!marks) return undefined;
    const until = Date.now() + MARK_RELEASE_WAIT_MS;
    for (;;) {
      const mark = await marks.read(partition).catch(() => undefined);
      if (!mark || mark.owner === marks.owner || Date.now() >= until) return mark;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
