// `courier inspect EVENT_ID [--body]`: every destination's state and every attempt of one event,
// for the delivery log's whole retention; with --body, each destination's last request as signed
// (headers and the exact body), so a signature can be checked with any Standard Webhooks library.
import { inspectEvent } from '../../attempts/inspect.ts';
import { type RequestAsSent, requestAsSent } from '../../attempts/requestAsSent.ts';
import { credentialHealth, describeHealth } from '../../credentials/health.ts';
import { UsageError } from '../../errors.ts';
import { DestinationControl } from '../../redis/destinationControl.ts';
import type { AttemptRecord } from '../../telemetry/events.ts';
import { type CommandContext, printJson } from '../flags.ts';
import { withTools } from '../tools.ts';

export async function inspect(ctx: CommandContext): Promise<number> {
  const { config, args } = ctx;
  const eventId = args[0];
  if (!eventId) throw new UsageError('inspect needs an EVENT_ID');
  const withBody = ctx.flags.body === true;
  return withTools(config, ctx.logger, async (tools) => {
    const found = await inspectEvent({ eventId, reader: tools.attempts });
    const control = new DestinationControl({ redis: tools.redis, keys: tools.keys });
    const paused: Record<string, unknown> = {};
    for (const d of Object.keys(found.destinations)) {
      const s = await control.state(d);
      if (s.paused) paused[d] = s;
    }
    const health = await credentialHealth(config, tools.redis);
    const requests: RequestAsSent[] = [];
    if (withBody) {
      const latest = new Map<string, AttemptRecord>();
      for (const a of found.attempts) if (a.request) latest.set(a.destination, a);
      for (const a of latest.values()) requests.push(await requestAsSent(a, tools));
    }
    const known = Object.keys(found.destinations).length > 0;
    if (ctx.json) {
      const credentials = Object.fromEntries(
        Object.keys(found.destinations).map((d) => [d, health[d] ?? []]),
      );
      printJson({
        ...found,
        pausedDestinations: paused,
        credentials,
        ...(withBody ? { requests } : {}),
      });
      return known ? 0 : 1;
    }
    if (!known) {
      console.log(
        `event ${eventId}: not found (no attempt in the delivery log, which keeps ${Math.round(config.kafka.attemptsRetentionMs / 86_400_000)} days)`,
      );
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
      // A replay is a chapter of its own: its attempts count from 1 again.
      const story =
        s.chapters.length > 1
          ? ` (${s.chapters.map((c) => `${c.replay ? 'replay' : 'first delivery'}: ${c.attempts} attempt(s), ${c.state}`).join('; ')})`
          : '';
      console.log(
        `  ${d}: ${s.state}${s.requests ? ` after ${s.requests} request(s)` : ''}${story}${extra.length ? ` — ${extra.join(', ')}` : ''}`,
      );
      for (const line of describeHealth(health[d] ?? [])) console.log(`    credential: ${line}`);
    }
    console.log('attempts:');
    for (const a of found.attempts) {
      console.log(
        `  ${a.at}  ${a.destination}  #${a.attempt}  ${a.outcome}  ${a.status ?? a.errorCode ?? ''}  ${a.latencyMs}ms${a.replay ? '  (replay)' : ''}${a.rebuilt ? '  (rebuilt after a crash: status unknown)' : ''}${a.configVersion ? `  config ${a.configVersion}` : ''}${a.traceId ? `  trace ${a.traceId}` : ''}${a.afterGap ? `  (after a gap: ${a.afterGap} was dead-lettered)` : ''}`,
      );
    }
    for (const r of requests) {
      console.log(`\nrequest to ${r.destination} (attempt ${r.attempt}, ${r.at}), as signed:`);
      for (const [name, value] of Object.entries(r.headers)) console.log(`${name}: ${value}`);
      console.log('');
      console.log(
        r.body ??
          `(body no longer kept: ${r.record ? `${r.record.topic} partition ${r.record.partition} offset ${r.record.offset}` : 'its record'} is past the topic's retention)`,
      );
    }
    return 0;
  });
}
