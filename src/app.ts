// The composition root: builds the shared clients, wires the roles (router, deliver, retry),
// starts them in order and stops them in reverse. Each role writes through its own idempotent
// producer (kafkajs allows one request per broker in flight for each), so a failing
// destination's retries and dead letters never queue the router's fan-out behind them.
import type { Kafka, Producer } from 'kafkajs';
import type { CourierConfig } from './config/schema.ts';
import { DeliveredKeySet } from './delivery/deliveredKeySet.ts';
import { DestinationActor } from './delivery/destinationActor.ts';
import { DestinationControl } from './delivery/destinationControl.ts';
import { RateLimiter } from './delivery/rateLimiter.ts';
import { type CourierRedis, createRedis, redisKeys } from './delivery/redis.ts';
import { WebhookSender } from './delivery/sender.ts';
import { DlqWriter } from './dlq/dlqWriter.ts';
import { createKafka, createProducer } from './kafka/client.ts';
import { EventCodec } from './kafka/codec.ts';
import { ProducerQueue } from './kafka/producerQueue.ts';
import { topicNames } from './kafka/topics.ts';
import { AttemptLog } from './observability/attemptLog.ts';
import { EventIndex } from './observability/eventIndex.ts';
import { PipelineEmitter } from './observability/events.ts';
import type { Logger } from './observability/logger.ts';
import { Observability } from './observability/observability.ts';
import { DelayConsumer } from './retry/delayConsumer.ts';
import { parseTiers } from './retry/policy.ts';
import { RetryScheduler } from './retry/retryScheduler.ts';
import { Router } from './router/router.ts';
import { VERSION } from './version.ts';

export const ROLES = ['router', 'deliver', 'retry'] as const;
export type Role = (typeof ROLES)[number];

export interface CourierAppOptions {
  config: CourierConfig;
  logger: Logger;
  roles?: readonly Role[];
  events?: PipelineEmitter;
  /** Consumer session timeout; short values make failover fast (tests, small deployments). */
  sessionTimeoutMs?: number;
  pausePollMs?: number;
}

export function groupIds(config: CourierConfig) {
  const prefix = config.kafka.topicPrefix;
  return {
    router: `${prefix}-router`,
    deliver: (id: string) => `${prefix}-deliver.${id}`,
    retry: `${prefix}-retry`,
    replay: (id: string) => `${prefix}-replay.${id}`,
  };
}

interface Stoppable {
  stop(): Promise<void>;
}

export class CourierApp {
  readonly events: PipelineEmitter;
  private readonly o: CourierAppOptions;
  private readonly kafka: Kafka;
  private readonly producers: Producer[] = [];
  private readonly redis: CourierRedis;
  private readonly started: Stoppable[] = [];
  private attemptLog: AttemptLog | undefined;
  /** Metrics, alerts, /healthz, /readyz and the status page (config `observability`). */
  observability: Observability | undefined;

  constructor(options: CourierAppOptions) {
    this.o = options;
    this.events = options.events ?? new PipelineEmitter();
    this.kafka = createKafka(options.config, options.logger);
    this.redis = createRedis(options.config.redis.url);
  }

  async start(): Promise<void> {
    const { config, logger } = this.o;
    const roles = new Set(this.o.roles ?? ROLES);
    const names = topicNames(config);
    const keys = redisKeys(config.kafka.topicPrefix);
    const groups = groupIds(config);
    this.observability = new Observability({
      config,
      logger,
      events: this.events,
      kafka: this.kafka,
      groups,
    });
    await this.observability.start();
    const index = new EventIndex({ redis: this.redis, keys, ttlMs: config.idempotency.windowMs });
    // Attempt records, retries and dead letters share one producer; the router and the delay
    // consumer get their own.
    const deliveryProducer = await this.connectProducer();
    this.attemptLog = new AttemptLog({
      producer: deliveryProducer,
      topic: names.attempts,
      logger: logger.child({ component: 'attempts' }),
      index,
    });

    if (roles.has('retry')) {
      const delay = new DelayConsumer({
        kafka: this.kafka,
        producer: await this.connectProducer(),
        groupId: groups.retry,
        topics: config.retryTiers.map((t) => names.retry(t)),
        destinationTopic: names.dest,
        events: this.events,
        logger,
        sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      });
      await delay.start();
      this.started.push(delay);
    }

    if (roles.has('deliver')) {
      const control = new DestinationControl({ redis: this.redis, keys });
      const queue = new ProducerQueue(deliveryProducer);
      const retries = new RetryScheduler({
        queue,
        tiers: parseTiers(config.retryTiers),
        topicOf: names.retry,
      });
      const dlq = new DlqWriter({ queue, topicOf: names.dlq });
      for (const destination of config.destinations) {
        const actor = new DestinationActor({
          kafka: this.kafka,
          groupId: groups.deliver(destination.id),
          topic: names.dest(destination.id),
          destination,
          sender: new WebhookSender({
            url: destination.url,
            timeoutMs: destination.timeoutMs,
            connections: destination.concurrency,
            allowPrivateAddresses: config.network.allowPrivateAddresses,
            userAgent: `courier/${VERSION}`,
          }),
          deliveredKeys: new DeliveredKeySet({
            redis: this.redis,
            keys,
            destination: destination.id,
            ttlMs: config.idempotency.windowMs,
            lockMs: destination.timeoutMs + 5_000,
          }),
          control,
          ...(destination.rateLimit
            ? {
                rateLimiter: new RateLimiter({
                  redis: this.redis,
                  key: keys.rate(destination.id),
                  perSecond: destination.rateLimit.perSecond,
                  burst: destination.rateLimit.burst,
                }),
              }
            : {}),
          retries,
          dlq,
          attemptLog: this.attemptLog,
          events: this.events,
          logger,
          sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
          retentionMs: config.kafka.retentionMs,
          ...(this.o.pausePollMs ? { pausePollMs: this.o.pausePollMs } : {}),
        });
        await actor.start();
        this.started.push(actor);
      }
    }

    if (roles.has('router')) {
      const codec = new EventCodec({
        ...(config.schemaRegistry ? { registryUrl: config.schemaRegistry.url } : {}),
        maxEventBytes: config.router.maxEventBytes,
        subject: `${config.kafka.eventsTopic}-value`,
      });
      const router = new Router({
        kafka: this.kafka,
        producer: await this.connectProducer(),
        groupId: groups.router,
        eventsTopic: names.events,
        invalidTopic: names.invalid,
        destinationTopic: names.dest,
        destinations: config.destinations,
        codec,
        index,
        events: this.events,
        logger,
        sessionTimeoutMs: this.o.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs,
      });
      await router.start();
      this.started.push(router);
    }
    logger.info({ roles: [...roles], destinations: config.destinations.map((d) => d.id) }, 'courier started');
  }

  private async connectProducer(): Promise<Producer> {
    const producer = createProducer(this.kafka);
    this.producers.push(producer);
    await producer.connect();
    return producer;
  }

  async stop(): Promise<void> {
    await this.observability?.stop().catch((err) => this.o.logger.error({ err }, 'stop failed'));
    for (const part of this.started.reverse()) {
      await part.stop().catch((err) => this.o.logger.error({ err }, 'stop failed'));
    }
    this.started.length = 0;
    await this.attemptLog?.flush();
    for (const producer of this.producers) await producer.disconnect().catch(() => {});
    this.producers.length = 0;
    this.redis.disconnect();
    this.o.logger.info('courier stopped');
  }
}
