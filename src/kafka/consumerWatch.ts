// Watches the Kafka consumers of every role. kafkajs restarts a consumer after a retriable crash
// by itself, but after a non-retriable one (`consumer.events.CRASH` with `restart: false`) the
// consumer is gone while the process lives on, delivering nothing. Here each consumer's state is
// tracked (for health checks) and such a crash becomes one fatal ConsumerCrashedError, so the
// composition root can stop the process with a non-zero exit and a supervisor can act.
import { EventEmitter } from 'node:events';
import type { Consumer } from 'kafkajs';
import { ConsumerCrashedError } from '../errors.ts';

export type ConsumerState = 'starting' | 'running' | 'restarting' | 'crashed' | 'stopped';

export interface ConsumerHealth {
  /** Role-level name, e.g. `router`, `retry`, `deliver:crm`. */
  name: string;
  groupId: string;
  state: ConsumerState;
  /** The last crash's error message, if any. */
  error?: string;
}

export interface ConsumerWatchOptions {
  /**
   * A consumer kafkajs is restarting: it rejoins as a new member, and `memberId` (its former
   * self) should leave the group rather than hold the rebalance until its session expires.
   */
  onRestart?: (groupId: string, memberId: string) => void;
}

export class ConsumerWatch extends EventEmitter<{ fatal: [ConsumerCrashedError] }> {
  private readonly consumers = new Map<string, ConsumerHealth>();
  private firstFatal: ConsumerCrashedError | undefined;
  private readonly options: ConsumerWatchOptions;

  constructor(options: ConsumerWatchOptions = {}) {
    super();
    this.options = options;
  }

  /** Starts watching a consumer (call it before `consumer.run`). */
  add(name: string, consumer: Pick<Consumer, 'on' | 'events'>, groupId: string): void {
    const health: ConsumerHealth = { name, groupId, state: 'starting' };
    this.consumers.set(name, health);
    const { GROUP_JOIN, FETCH_START, CRASH, STOP } = consumer.events;
    const running = () => {
      if (health.state !== 'crashed') health.state = 'running';
    };
    let memberId: string | undefined;
    consumer.on(GROUP_JOIN, (e) => {
      memberId = e.payload.memberId;
      running();
    });
    consumer.on(FETCH_START, running);
    // kafkajs emits STOP (from its disconnect) before CRASH, so a crash overrides it.
    consumer.on(STOP, () => {
      if (health.state !== 'crashed') health.state = 'stopped';
    });
    consumer.on(CRASH, (e) => {
      const { error, restart } = e.payload;
      health.error = error?.message;
      if (restart) {
        health.state = 'restarting';
        if (memberId) this.options.onRestart?.(groupId, memberId);
        memberId = undefined;
        return;
      }
      health.state = 'crashed';
      const fatal = new ConsumerCrashedError(name, groupId, error);
      if (!this.firstFatal) {
        this.firstFatal = fatal;
        this.emit('fatal', fatal);
      }
    });
  }

  /** Every watched consumer's name, group and state. */
  health(): ConsumerHealth[] {
    return [...this.consumers.values()].map((h) => ({ ...h }));
  }

  /** The first crash that kafkajs will not restart, if one happened. */
  fatal(): ConsumerCrashedError | undefined {
    return this.firstFatal;
  }
}
