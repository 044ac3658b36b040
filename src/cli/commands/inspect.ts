// `courier inspect EVENT_ID`: every destination's state and attempts for one event.
import { EventIndex } from '../../attempts/eventIndex.ts';
import { inspectEvent } from '../../attempts/inspect.ts';
import { credentialHealth, describeHealth } from '../../credentials/health.ts';
import { UsageError } from '../../errors.ts';
import { createKafka } from '../../kafka/client.ts';
import { topicNames } from '../../kafka/topics.ts';
import { DestinationControl } from '../../redis/destinationControl.ts';
import { redisKeys } from '../../redis/keys.ts';
import { type CommandContext, commandRedis, printJson } from '../flags.ts';

export async function inspect(ctx: CommandContext): Promise<number> {
  const { config, args } = ctx;
  const eventId = args[0];
  if (!eventId) throw new UsageError('inspect needs an EVENT_ID');
  const redis = commandRedis(config, ctx.logger);
  try {
    const keys = redisKeys(config.kafka.topicPrefix);
    const index = new EventIndex({ redis, keys, ttlMs: config.idempotency.windowMs });
    const found = await inspectEvent({
      eventId,
      destinations: config.destinations.map((d) => d.id),
      index,
      kafka: createKafka(config, ctx.logger),
      attemptsTopic: topicNames(config).attempts,
    });
    const control = new DestinationControl({ redis, keys });
    const paused: Record<string, unknown> = {};
    for (const d of Object.keys(found.destinations)) {
      const s = await control.state(d);
      if (s.paused) paused[d] = s;
    }
    const health = await credentialHealth(config, redis);
    if (ctx.json) {
      const credentials = Object.fromEntries(
        Object.keys(found.destinations).map((d) => [d, health[d] ?? []]),
      );
      printJson({ ...found, pausedDestinations: paused, credentials });
      return Object.keys(found.destinations).length > 0 ? 0 : 1;
    }
    if (Object.keys(found.destinations).length === 0) {
      console.log(`event ${eventId}: not found (unknown, or older than the idempotency window)`);
      return 1;
    }
    console.log(`event ${eventId}${found.eventType ? ` (${found.eventType})` : ''}`);
    for (const [d, s] of Object.entries(found.destinations)) {
      const extra = [
        s.status !== undefined ? `last status ${s.status}` : '',
        s.errorCode ?? '',
        s.errorClass ? `class ${s.errorClass}` : '',
        s.nextAttemptAt ? `next attempt ${s.nextAttemptAt}` : '',
        paused[d] ? `destination paused (${(paused[d] as { reason: string }).reason})` : '',
      ].filter(Boolean);
      console.log(
        `  ${d}: ${s.state}${s.attempt ? ` after ${s.attempt} attempt(s)` : ''}${extra.length ? ` — ${extra.join(', ')}` : ''}`,
      );
      for (const line of describeHealth(health[d] ?? [])) console.log(`    credential: ${line}`);
    }
    console.log('attempts:');
    for (const a of found.attempts) {
      console.log(
        `  ${a.at}  ${a.destination}  #${a.attempt}  ${a.outcome}  ${a.status ?? a.errorCode ?? ''}  ${a.latencyMs}ms${a.replay ? '  (replay)' : ''}`,
      );
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}
