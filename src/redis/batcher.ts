// Gathers the calls made while a round trip is being prepared into one: callers hand over an
// item and await its own result; the items of one turn of the event loop (up to `maxBatch`) go
// to Redis together. Turns N per-message round trips into one per batch without adding a timer.

export class Batcher<I, O> {
  private readonly run: (items: I[]) => Promise<O[]>;
  private readonly maxBatch: number;
  private pending: Array<{ item: I; resolve: (o: O) => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;

  constructor(run: (items: I[]) => Promise<O[]>, options: { maxBatch?: number } = {}) {
    this.run = run;
    this.maxBatch = options.maxBatch ?? 256;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.run(batch.map((p) => p.item)).then(
        (results) => {
          batch.forEach((p, i) => {
            p.resolve(results[i] as O);
          });
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      );
    }
  }
}
