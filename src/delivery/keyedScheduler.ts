// Runs tasks so that tasks with the same key run one after another, in submission order, while
// different keys run concurrently up to a limit shared by everything this scheduler runs.

export class KeyedScheduler {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError('limit must be at least 1');
    this.limit = limit;
  }

  /** Runs `task` after every earlier task of the same key; `task` receives the previous result. */
  run<T>(key: string, task: (previous: T | undefined) => Promise<T>): Promise<T> {
    const previous = (this.tails.get(key) ?? Promise.resolve(undefined)) as Promise<T | undefined>;
    const next = previous
      .catch(() => undefined)
      .then(async (prev) => {
        await this.acquire();
        try {
          return await task(prev);
        } finally {
          this.releaseSlot();
        }
      });
    this.tails.set(key, next);
    const cleanup = () => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  private acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}
