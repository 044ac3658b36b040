// Tracks which offsets of one partition are finished, so that commits never pass an
// unfinished message: the committable offset is the lowest unfinished one (or one past the
// highest seen when all are finished). Pure.

export class OffsetTracker {
  private readonly order: number[] = [];
  private readonly finished = new Set<number>();
  private head = 0;
  private highest = -1;

  /** Registers an offset as in progress; offsets arrive in increasing order. */
  track(offset: number): void {
    if (offset <= this.highest) return;
    this.order.push(offset);
    this.highest = offset;
  }

  finish(offset: number): void {
    this.finished.add(offset);
    this.compact();
  }

  /**
   * For a message read again after a rewind: true (and forgotten) when it was already finished,
   * so it is not handled twice.
   */
  skipIfFinished(offset: number): boolean {
    if (!this.finished.has(offset)) return false;
    this.finished.delete(offset);
    this.highest = Math.max(this.highest, offset);
    return true;
  }

  /**
   * Forgets the unfinished offsets from `offset` on, because the partition is being read again
   * from there. Finished offsets above it are remembered and skipped when they come back.
   */
  rewind(offset: number): void {
    this.order.splice(this.head);
    this.order.splice(0, this.head);
    this.head = 0;
    this.highest = offset - 1;
    for (const f of this.finished) if (f < offset) this.finished.delete(f);
  }

  /** The offset to commit (next to read), or undefined before anything was tracked. */
  committable(): number | undefined {
    if (this.highest < 0) return undefined;
    return this.head < this.order.length ? (this.order[this.head] as number) : this.highest + 1;
  }

  /** The lowest offset not yet finished, if any. */
  lowestUnfinished(): number | undefined {
    return this.head < this.order.length ? this.order[this.head] : undefined;
  }

  private compact(): void {
    while (this.head < this.order.length && this.finished.has(this.order[this.head] as number)) {
      this.finished.delete(this.order[this.head] as number);
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
