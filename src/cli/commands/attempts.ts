// `courier attempts`: searches the delivery log by destination, status, outcome, event type and
// time ("every 5xx to crm in the last hour"). The time window becomes offsets, so only it is read;
// without --since it is the last hour.
import type { AttemptSearch } from '../../attempts/attemptReader.ts';
import { UsageError } from '../../errors.ts';
import type { AttemptOutcome } from '../../telemetry/events.ts';
import { type CommandContext, positiveInt, printJson, str, windowFlags } from '../flags.ts';
import { oneLine, table } from '../table.ts';
import { withTools } from '../tools.ts';

const OUTCOMES: readonly AttemptOutcome[] = ['delivered', 'retry', 'dlq', 'paused', 'duplicate-skipped'];

/** The flags of `attempts`, checked before anything connects. */
export function attemptsOptions(
  ctx: Pick<CommandContext, 'config' | 'flags'>,
  now = Date.now(),
): AttemptSearch {
  const { flags, config } = ctx;
  const destination = str(flags, 'destination');
  if (destination !== undefined && !config.destinations.some((d) => d.id === destination)) {
    throw new UsageError(
      `unknown destination "${destination}"; configured: ${config.destinations.map((d) => d.id).join(', ') || 'none'}`,
    );
  }
  const status = str(flags, 'status');
  if (status !== undefined && !/^(\d{3}|\dxx|none)$/i.test(status)) {
    throw new UsageError(`--status is a status (503), a class (5xx) or none, got "${status}"`);
  }
  const outcome = str(flags, 'outcome');
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) {
    throw new UsageError(`--outcome is one of ${OUTCOMES.join(', ')}, got "${outcome}"`);
  }
  const eventType = str(flags, 'event-type');
  const window = windowFlags(flags, now);
  return {
    sinceMs: window.sinceMs ?? now - 3_600_000,
    ...(window.untilMs === undefined ? {} : { untilMs: window.untilMs }),
    ...(destination ? { destination } : {}),
    ...(status ? { status } : {}),
    ...(outcome ? { outcome: outcome as AttemptOutcome } : {}),
    ...(eventType ? { eventType } : {}),
    limit: positiveInt(flags, 'limit', 100),
  };
}

export async function attempts(ctx: CommandContext): Promise<number> {
  const search = attemptsOptions(ctx);
  return withTools(ctx.config, ctx.logger, async (tools) => {
    const result = await tools.attempts.search(search);
    if (ctx.json) {
      printJson({
        since: new Date(search.sinceMs).toISOString(),
        ...(search.untilMs === undefined ? {} : { until: new Date(search.untilMs).toISOString() }),
        items: result.items.map((a) => ({
          ...a,
          ...(a.eventType ? { type: a.eventType } : {}),
          ...(a.errorClass ? { class: a.errorClass } : {}),
        })),
        matched: result.matched,
        scanned: result.scanned,
      });
      return 0;
    }
    for (const line of table(
      ['AT', 'EVENT ID', 'TYPE', 'DESTINATION', 'ATTEMPT', 'OUTCOME', 'STATUS', 'LATENCY', 'ERROR'],
      result.items.map((a) => [
        a.at,
        a.eventId,
        a.eventType ?? '-',
        a.destination,
        String(a.attempt),
        `${a.outcome}${a.replay ? ' (replay)' : ''}${a.rebuilt ? ' (rebuilt)' : ''}`,
        a.status === undefined ? '-' : String(a.status),
        `${a.latencyMs}ms`,
        oneLine(a.errorCode ? `${a.errorCode}: ${a.error ?? ''}` : a.errorClass, 60),
      ]),
    )) {
      console.log(line);
    }
    console.log(
      `\n${result.items.length} shown of ${result.matched} matching since ${new Date(search.sinceMs).toISOString()} (${result.scanned} records read)`,
    );
    return 0;
  });
}
