// Runs tasks so that tasks with the same key run one after another, in submission order, while
// different keys run concurrently up to a limit shared by everything this scheduler runs. A key
// whose previous task finished joins the back of one queue of ready work (FIFO across keys).
// A waiting task costs one small record (no promise chain per task): a window of thousands of
// messages waits in arrays, not in closures.

interface Job {
  key: string;
  task: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export class KeyedScheduler {
  private readonly limit: number;
  private active = 0;
  /** Keys with a task running or ready, each with the tasks waiting behind it (in order). */
  private readonly behind = new Map<string, Job[]>();
  /** Tasks whose key is free, waiting for a slot: `ready[head..]`. */
  private ready: Job[] = [];
  private head = 0;

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError('limit must be at least 1');
    this.limit = limit;
  }

  /** Runs `task` after every earlier task of the same key has settled. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job: Job = { key, task, resolve: resolve as (value: unknown) => void, reject };
      const waiting = this.behind.get(key);
      if (waiting) {
        waiting.push(job);
        return;
      }
      this.behind.set(key, []);
      this.ready.push(job);
      this.pump();
    });
  }

  /** Tasks waiting or running. */
  get size(): number {
    let n = this.active + this.ready.length - this.head;
    for (const waiting of this.behind.values()) n += waiting.length;
    return n;
  }

  private pump(): void {
    while (this.active < this.limit && this.head < this.ready.length) {
      const job = this.ready[this.head] as Job;
      this.ready[this.head] = undefined as unknown as Job;
      this.head += 1;
      this.start(job);
    }
    if (this.head === this.ready.length) {
      this.ready = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
  }

  private start(job: Job): void {
    this.active += 1;
    let settled: Promise<unknown>;
    try {
      settled = job.task();
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(
      (value) => {
        this.finished(job.key);
        job.resolve(value);
      },
      (err) => {
        this.finished(job.key);
        job.reject(err);
      },
    );
  }

  /** A task of `key` settled: the next of its key becomes ready, and free slots are filled. */
  private finished(key: string): void {
    this.active -= 1;
    const next = this.behind.get(key)?.shift();
    if (next) this.ready.push(next);
    else this.behind.delete(key);
    this.pump();
  }
}
