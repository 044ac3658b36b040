// Tracks which offsets of one partition are finished, so that commits never pass an unfinished
// message: the committable offset is the lowest unfinished one (or one past the highest seen
// when all are finished). A message that is held simply stays unfinished; the partition runner
// keeps held messages in memory instead of reading them again, so there is no rewind to get
// wrong. Pure.

export class OffsetTracker {
  /** Tracked offsets in increasing order, from `head` on; timestamps beside them. */
  private readonly order: number[] = [];
  private readonly timestamps: number[] = [];
  private readonly finished = new Set<number>();
  private head = 0;
  private highest = -1;

  /** Registers an offset as in progress; offsets arrive in increasing order (others are ignored). */
  track(offset: number, timestamp = 0): boolean {
    if (offset <= this.highest) return false;
    this.order.push(offset);
    this.timestamps.push(timestamp);
    this.highest = offset;
    return true;
  }

  /**
   * Starts the partition at `offset`: everything below is taken as finished (a graceful hand-over
   * said so). Only before anything was tracked.
   */
  startAt(offset: number): void {
    if (this.highest >= 0 || offset <= 0) return;
    this.highest = offset - 1;
  }

  finish(offset: number): void {
    if (offset > this.highest || this.head >= this.order.length || offset < (this.order[this.head] as number))
      return;
    this.finished.add(offset);
    while (this.head < this.order.length && this.finished.has(this.order[this.head] as number)) {
      this.finished.delete(this.order[this.head] as number);
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.timestamps.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The offset to commit (next to read), or undefined before anything was tracked. */
  committable(): number | undefined {
    if (this.highest < 0) return undefined;
    return this.head < this.order.length ? (this.order[this.head] as number) : this.highest + 1;
  }

  /** The lowest unfinished offset and its timestamp, if any. */
  lowestUnfinished(): { offset: number; timestamp: number } | undefined {
    if (this.head >= this.order.length) return undefined;
    return { offset: this.order[this.head] as number, timestamp: this.timestamps[this.head] as number };
  }

  /** How many tracked offsets are not finished. */
  get unfinished(): number {
    return this.order.length - this.head - this.finished.size;
  }
}
