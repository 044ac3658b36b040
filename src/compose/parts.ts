// What the app started, to stop in reverse: its parts (consumers, monitors, loops) and the
// producers they write through. Each is tracked before it starts, so one that fails half-way is
// still stopped; once stopping, nothing new starts.
import type { Kafka, Producer } from 'kafkajs';
import { settledBy } from '../clock.ts';
import { CourierError } from '../errors.ts';
import { createProducer } from '../kafka/client.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface Part {
  start(): Promise<void>;
  /** Stops; in-flight work is waited for until `deadline` (epoch ms) at most. */
  stop(deadline?: number): Promise<void>;
}

export class Parts {
  private readonly kafka: Kafka;
  private readonly started: Part[] = [];
  private readonly producers: Producer[] = [];
  private stopping = false;

  constructor(kafka: Kafka) {
    this.kafka = kafka;
  }

  /** Tracks a part, then starts it. */
  async start(part: Part): Promise<void> {
    this.refuseWhenStopping();
    this.started.push(part);
    await part.start();
  }

  /** Something already running to stop, in reverse order with the parts. */
  onStop(stop: (deadline: number) => Promise<void> | void): void {
    this.started.push({
      start: async () => {},
      stop: async (deadline = Number.POSITIVE_INFINITY) => stop(deadline),
    });
  }

  /** A connected idempotent producer, disconnected by `disconnectProducers`. */
  async producer(): Promise<Producer> {
    this.refuseWhenStopping();
    const producer = createProducer(this.kafka);
    this.producers.push(producer);
    await producer.connect();
    return producer;
  }

  /** Stops every part, last started first; a failure is logged and the next one stopped. */
  async stop(deadline: number, logger: Logger): Promise<void> {
    this.stopping = true;
    for (const part of this.started.reverse()) {
      await part.stop(deadline).catch((err) => logger.error({ err }, 'stop failed'));
    }
    this.started.length = 0;
  }

  async disconnectProducers(deadline: number): Promise<void> {
    await settledBy(Promise.allSettled(this.producers.map((p) => p.disconnect())), deadline);
    this.producers.length = 0;
  }

  /** Once stopping: nothing new starts (a start still under way fails with APP_STOPPED). */
  close(): void {
    this.stopping = true;
  }

  private refuseWhenStopping(): void {
    if (this.stopping) throw new CourierError('APP_STOPPED', 'courier was stopped while starting');
  }
}

/** The consumer-group joins of a start, each timed: all are settled before a failure is thrown. */
export class Joins {
  private readonly joining: Promise<unknown>[] = [];
  private readonly took: Array<{ part: string; ms: number }> = [];

  add(part: string, start: Promise<unknown>): void {
    const from = Date.now();
    this.joining.push(start.then(() => this.took.push({ part, ms: Date.now() - from })));
  }

  /** Waits for every join; throws the first failure. Returns how long each took. */
  async settled(): Promise<Array<{ part: string; ms: number }>> {
    const results = await Promise.allSettled(this.joining);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return this.took;
  }
}
