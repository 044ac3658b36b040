// The deliver role's destinations, as they run now: each one's actor, credentials, sender, rate
// limiter and delivered-key set, built from its configuration, started, updated in place by a
// reload (what a changed field rebuilds: `RUNNING_PARTS` in config/diff.ts) or stopped. It is
// also where the delivery log confirms the marks of the deliveries it recorded, for destinations
// already stopped too (their last records are written while the app stops).
import type { Kafka } from 'kafkajs';
import { requestTimeout } from '../config/destination.ts';
import type { ConfigDiff } from '../config/diff.ts';
import { partsToRebuild } from '../config/diff.ts';
import type { CourierConfig, DestinationConfig } from '../config/schema.ts';
import { createCredentials, type DestinationCredentials } from '../credentials/credentials.ts';
import type { WatchedCredentials } from '../credentials/health.ts';
import { CourierError } from '../errors.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { consumerGroups, topicNames } from '../kafka/topics.ts';
import type { ClientTls } from '../net/dispatcher.ts';
import { describeProxy, destinationProxy } from '../net/egress.ts';
import type { Tier } from '../policy/retry.ts';
import { claimLockMs } from '../policy/timeouts.ts';
import type { CourierRedis } from '../redis/client.ts';
import { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import type { DestinationControl } from '../redis/destinationControl.ts';
import { HandOvers } from '../redis/handOvers.ts';
import { redisKeys } from '../redis/keys.ts';
import type { ProcessLiveness } from '../redis/liveness.ts';
import type { AttemptRecord, PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import { VERSION } from '../version.ts';
import type { AttemptSink, DeadLetterSink, RetrySink } from './act.ts';
import { createBreaker } from './breaker.ts';
import { DestinationActor } from './destinationActor.ts';
import { RateLimiter } from './rateLimiter.ts';
import { WebhookSender } from './sender.ts';

/** What every destination's actor shares: the other stages' ports and the pause state. */
export interface FleetSinks {
  control: DestinationControl;
  retries: RetrySink;
  deadLetters: DeadLetterSink;
  attempts: AttemptSink;
  tiers: readonly Tier[];
}

export interface FleetOptions {
  kafka: Kafka;
  redis: CourierRedis;
  config: CourierConfig;
  /** This process: the marks it leaves unconfirmed and the partitions it hands over name it. */
  liveness: ProcessLiveness;
  watch: ConsumerWatch;
  events: PipelineEmitter;
  logger: Logger;
  sessionTimeoutMs?: number;
  /** How often shared pause state is read (tests shorten it). */
  pausePollMs?: number;
  /** A span per delivery attempt (config `observability.tracing`). */
  tracing?: Tracing;
}

interface LiveDestination {
  config: DestinationConfig;
  actor: DestinationActor;
  credentials: DestinationCredentials;
}

const userAgent = `courier/${VERSION}`;

export class DestinationFleet {
  private readonly options: FleetOptions;
  private config: CourierConfig;
  private sinks: FleetSinks | undefined;
  private readonly running = new Map<string, LiveDestination>();
  /** Every destination's delivered-key set, kept after its actor stopped (see the file comment). */
  private readonly markSets = new Map<string, DeliveredKeySet>();
  private closed = false;

  constructor(options: FleetOptions) {
    this.options = options;
    this.config = options.config;
  }

  /** Starts every configured destination (each one's consumer joins its group), timed one by one. */
  startAll(sinks: FleetSinks): Array<{ id: string; started: Promise<void> }> {
    this.sinks = sinks;
    return this.config.destinations.map((d) => ({ id: d.id, started: this.start(d) }));
  }

  /** A destination's client TLS (mTLS), for the certificate probe. */
  clientTls(id: string): ClientTls | undefined {
    return this.running.get(id)?.credentials.tls;
  }

  /** The running destinations' credentials, for the expiry monitor. */
  watched(): WatchedCredentials[] {
    return [...this.running.values()].map(({ config: d, credentials }) => ({
      id: d.id,
      credentials,
      warningDays: d.credentialWarningDays,
      ...(d.secretsExpireAt ? { secretsExpireAt: d.secretsExpireAt } : {}),
    }));
  }

  /**
   * The delivery log has these records: the delivered marks they stand for are confirmed (a mark
   * left unconfirmed by a crash makes the next read of its event write the record again).
   */
  async confirmDelivered(records: readonly AttemptRecord[]): Promise<void> {
    const byDestination = new Map<string, string[]>();
    for (const r of records) {
      if (r.outcome !== 'delivered') continue;
      const ids = byDestination.get(r.destination);
      if (ids) ids.push(r.eventId);
      else byDestination.set(r.destination, [r.eventId]);
    }
    await Promise.all(
      [...byDestination].map(async ([id, events]) => {
        await this.markSets.get(id)?.confirm(events);
        this.running.get(id)?.actor.recorded(events);
      }),
    );
  }

  /**
   * Takes a reloaded configuration: changed destinations are updated in place or have their actor
   * alone rebuilt, removed ones stop after their in-flight work, added ones (and any an earlier
   * reload could not start) start. Returns what failed, one line each; the rest is applied.
   */
  async apply(next: CourierConfig, diff: ConfigDiff): Promise<string[]> {
    this.config = next;
    const byId = new Map(next.destinations.map((d) => [d.id, d]));
    const problems: string[] = [];
    const attempt = async (what: string, work: () => Promise<void> | void) => {
      try {
        await work();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    const rebuilt: DestinationConfig[] = [];
    for (const change of diff.changed) {
      const live = this.running.get(change.id);
      const d = byId.get(change.id) as DestinationConfig;
      if (!live) continue;
      if (change.inPlace) await attempt(`updating ${change.id}`, () => this.update(live, d, change.fields));
      else rebuilt.push(d);
    }
    const starting = next.destinations.filter((d) => !this.running.has(d.id) && !rebuilt.includes(d));
    await Promise.all([
      ...diff.removed.map((id) => attempt(`stopping ${id}`, () => this.stop(id))),
      ...rebuilt.map((d) =>
        attempt(`rebuilding ${d.id}`, async () => {
          await this.stop(d.id);
          await this.start(d);
        }),
      ),
      ...starting.map((d) => attempt(`starting ${d.id}`, () => this.start(d))),
    ]);
    return problems;
  }

  /** Stops every destination together, each after its in-flight work (until `deadline`). */
  async stopAll(deadline?: number): Promise<void> {
    this.closed = true;
    const results = await Promise.allSettled([...this.running.keys()].map((id) => this.stop(id, deadline)));
    for (const r of results)
      if (r.status === 'rejected') this.options.logger.error({ err: r.reason }, 'stop failed');
  }

  /** Builds a destination's credentials and actor and starts it (its consumer joins its group). */
  private async start(destination: DestinationConfig): Promise<void> {
    const { config } = this;
    const { logger, redis, liveness } = this.options;
    const sinks = this.sinks;
    if (!sinks) throw new CourierError('APP_NOT_RUNNING', 'the deliver role has not started');
    const keys = redisKeys(config.kafka.topicPrefix);
    const groupId = consumerGroups(config).deliver(destination.id);
    const tokenProxy =
      destination.auth?.type === 'oauth2'
        ? destinationProxy(config.network, destination, destination.auth.tokenUrl)
        : undefined;
    // Credentials: built first, they fail at start when unusable; closed after the actor.
    const credentials = createCredentials({
      destination,
      redis,
      keyPrefix: config.kafka.topicPrefix,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      userAgent,
      ...(tokenProxy ? { tokenProxy } : {}),
      logger,
    });
    const rateLimiter = this.rateLimiterFor(destination);
    const deliveredKeys = new DeliveredKeySet({
      redis,
      keys,
      destination: destination.id,
      ttlMs: config.idempotency.windowMs,
      lockMs: lockMsOf(destination),
      owners: liveness,
    });
    this.markSets.set(destination.id, deliveredKeys);
    const actor = new DestinationActor({
      kafka: this.options.kafka,
      groupId,
      topic: topicNames(config).dest(destination.id),
      destination,
      sender: this.senderFor(destination, credentials),
      credentials,
      deliveredKeys,
      ...sinks,
      ...(rateLimiter ? { rateLimiter } : {}),
      watch: this.options.watch,
      events: this.options.events,
      logger,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      retentionMs: config.kafka.retentionMs,
      rescueAtShare: config.kafka.rescueAtRetentionShare,
      window: destination.window,
      partitions: destination.partitions ?? config.kafka.partitions.destination,
      handOvers: new HandOvers({ redis, keys, groupId, owner: liveness.id }),
      ...(this.options.tracing ? { tracing: this.options.tracing } : {}),
      ...(this.options.pausePollMs ? { pausePollMs: this.options.pausePollMs } : {}),
    });
    this.running.set(destination.id, { config: destination, actor, credentials });
    if (this.closed) throw new CourierError('APP_STOPPED', 'courier was stopped while starting');
    await actor.start();
  }

  /** Stops a destination's actor after its in-flight work (until `deadline`), then closes its credentials. */
  private async stop(id: string, deadline?: number): Promise<void> {
    const live = this.running.get(id);
    if (!live) return;
    this.running.delete(id);
    try {
      await live.actor.stop(deadline);
    } finally {
      await live.credentials.close();
    }
  }

  /** A running destination takes a changed configuration without leaving its consumer group. */
  private update(live: LiveDestination, next: DestinationConfig, fields: string[]): void {
    const parts = partsToRebuild(fields);
    live.actor.update({
      destination: next,
      ...(parts.has('sender') ? { sender: this.senderFor(next, live.credentials) } : {}),
      ...(parts.has('rateLimiter') ? { rateLimit: { limiter: this.rateLimiterFor(next) } } : {}),
      ...(parts.has('breaker')
        ? { breaker: createBreaker(next.circuitBreaker, `destination:${next.id}`) }
        : {}),
      lockMs: lockMsOf(next),
    });
    live.config = next;
  }

  /** A destination's sender, as its configuration makes it (URL, timeout, proxy, mTLS). */
  private senderFor(destination: DestinationConfig, credentials: DestinationCredentials): WebhookSender {
    const { network } = this.config;
    const timeout = requestTimeout(destination);
    const proxy = destinationProxy(network, destination, destination.url);
    if (proxy) {
      this.options.logger.info(
        { destination: destination.id, proxy: describeProxy(proxy) },
        'deliveries go through a proxy',
      );
    }
    return new WebhookSender({
      destination: destination.id,
      url: destination.url,
      timeoutMs: timeout.timeoutMs,
      ...(timeout.auto ? { autoTimeout: timeout.auto } : {}),
      connections: destination.concurrency,
      allowPrivateAddresses: network.allowPrivateAddresses,
      userAgent,
      ...(credentials.tls ? { tls: credentials.tls } : {}),
      ...(proxy ? { proxy } : {}),
      events: this.options.events,
    });
  }

  private rateLimiterFor(destination: DestinationConfig): RateLimiter | undefined {
    if (!destination.rateLimit) return undefined;
    return new RateLimiter({
      redis: this.options.redis,
      key: redisKeys(this.config.kafka.topicPrefix).rate(destination.id),
      destination: destination.id,
      perSecond: destination.rateLimit.perSecond,
      burst: destination.rateLimit.burst,
      events: this.options.events,
    });
  }
}

/** How long a claim on an event in flight lives for this destination (policy/timeouts.ts). */
function lockMsOf(destination: DestinationConfig): number {
  const { timeoutMs } = requestTimeout(destination);
  return claimLockMs(timeoutMs, destination.auth?.type === 'oauth2' ? destination.auth.timeoutMs : undefined);
}
