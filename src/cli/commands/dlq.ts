// `courier dlq list` and `courier dlq show`: what is in a destination's DLQ, and one dead letter
// in full (its payload, its DLQ headers and every attempt of the event from the delivery log).
import { inspectEvent } from '../../attempts/inspect.ts';
import { type RequestAsSent, requestAsSent } from '../../attempts/requestAsSent.ts';
import { eventHeaders } from '../../config/destination.ts';
import { findLatestByEventId, listDeadLetters } from '../../dlq/deadLetters.ts';
import { UsageError } from '../../errors.ts';
import { COURIER_HEADER } from '../../kafka/headers.ts';
import { type CommandContext, destinationOf, positiveInt, printJson, str, windowFlags } from '../flags.ts';
import { oneLine, table } from '../table.ts';
import { withTools } from '../tools.ts';

/** The flags of `dlq list`, checked before anything connects. */
export function dlqListOptions(ctx: Pick<CommandContext, 'config' | 'flags'>) {
  const status = str(ctx.flags, 'status');
  if (status !== undefined && !/^(\d{3}|\dxx|none)$/i.test(status)) {
    throw new UsageError(`--status is a status (422), a class (4xx) or none, got "${status}"`);
  }
  const cls = str(ctx.flags, 'class');
  return {
    destination: destinationOf(ctx.config, ctx.flags, 'dlq list'),
    ...windowFlags(ctx.flags),
    ...(cls ? { class: cls } : {}),
    ...(status ? { status } : {}),
    limit: positiveInt(ctx.flags, 'limit', 100),
  };
}

export async function dlqList(ctx: CommandContext): Promise<number> {
  const { destination, limit, ...filter } = dlqListOptions(ctx);
  return withTools(ctx.config, ctx.logger, async (tools) => {
    const list = await listDeadLetters({
      kafka: tools.kafka,
      admin: tools.admin,
      topic: tools.names.dlq(destination),
      groupPrefix: tools.groupPrefix,
      filter,
      limit,
    });
    if (ctx.json) {
      printJson({
        destination,
        items: list.items.map((e) => ({
          eventId: e.eventId,
          ...(e.type ? { type: e.type } : {}),
          destination,
          at: e.deadLetteredAt,
          attempt: e.attempts,
          outcome: 'dlq',
          class: e.class,
          ...(e.lastStatus === undefined ? {} : { status: e.lastStatus }),
          ...(e.lastError ? { error: e.lastError } : {}),
          ...(e.snippet ? { snippet: e.snippet } : {}),
          partition: e.partition,
          offset: e.offset,
        })),
        matched: list.matched,
        byClass: list.byClass,
        scanned: list.scanned,
      });
      return 0;
    }
    for (const line of table(
      ['EVENT ID', 'TYPE', 'DEAD-LETTERED AT', 'ATTEMPTS', 'CLASS', 'STATUS', 'LAST ERROR', 'RESPONSE'],
      list.items.map((e) => [
        e.eventId,
        e.type ?? '-',
        e.deadLetteredAt,
        String(e.attempts),
        e.class,
        e.lastStatus === undefined ? '-' : String(e.lastStatus),
        oneLine(e.lastError, 48),
        oneLine(e.snippet, 40),
      ]),
    )) {
      console.log(line);
    }
    const total = Object.values(list.byClass).reduce((a, b) => a + b, 0);
    const classes = Object.entries(list.byClass)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    console.log(
      `\n${list.items.length} shown of ${list.matched} matching; ${total} dead letter(s) in the window${classes ? ` (${classes})` : ''}`,
    );
    return 0;
  });
}

/** The flags of `dlq show`, checked before anything connects. */
export function dlqShowOptions(ctx: Pick<CommandContext, 'config' | 'flags' | 'args'>) {
  const eventId = ctx.args[0];
  if (!eventId) throw new UsageError('dlq show needs an EVENT_ID');
  return { eventId, destination: destinationOf(ctx.config, ctx.flags, 'dlq show') };
}

export async function dlqShow(ctx: CommandContext): Promise<number> {
  const { eventId, destination } = dlqShowOptions(ctx);
  return withTools(ctx.config, ctx.logger, async (tools) => {
    const report = await inspectEvent({ eventId, reader: tools.attempts });
    const own = report.attempts.filter((a) => a.destination === destination);
    // The attempt that dead-lettered it says when: read the DLQ from just before then.
    const dlqAttempt = own.filter((a) => a.outcome === 'dlq').at(-1);
    const sinceMs = dlqAttempt ? Date.parse(dlqAttempt.at) - 60_000 : undefined;
    const found = await findLatestByEventId({
      kafka: tools.kafka,
      admin: tools.admin,
      topic: tools.names.dlq(destination),
      groupPrefix: tools.groupPrefix,
      eventIds: new Set([eventId]),
      ...(sinceMs === undefined ? {} : { sinceMs }),
    });
    const letter = found.get(eventId);
    if (!letter) {
      if (ctx.json) printJson({ eventId, destination, found: false, attempts: own });
      else console.log(`event ${eventId} is not in ${tools.names.dlq(destination)}`);
      return 1;
    }
    const lastSent = own.filter((a) => a.request).at(-1);
    const lastRequest: RequestAsSent | undefined = lastSent
      ? await requestAsSent(lastSent, tools)
      : undefined;
    const payload = letter.value?.toString('utf8') ?? '';
    // Headers taken from the event that the destination marks secret are never shown.
    const destinationConfig = ctx.config.destinations.find((d) => d.id === destination);
    const secret = new Set(
      (destinationConfig ? eventHeaders(destinationConfig) : [])
        .filter((h) => h.secret)
        .map((h) => `${COURIER_HEADER.requestHeader}${h.name}`),
    );
    letter.headers = Object.fromEntries(
      Object.entries(letter.headers).map(([name, value]) => [name, secret.has(name) ? '***' : value]),
    );
    if (ctx.json) {
      printJson({
        eventId,
        destination,
        found: true,
        topic: tools.names.dlq(destination),
        partition: letter.partition,
        offset: letter.offset,
        deadLetteredAt: new Date(Number(letter.message.timestamp)).toISOString(),
        key: letter.key?.toString('utf8') ?? null,
        headers: letter.headers,
        payload,
        attempts: own,
        ...(lastRequest ? { lastRequest: { ...lastRequest, body: lastRequest.body ?? payload } } : {}),
      });
      return 0;
    }
    console.log(
      `dead letter ${eventId} for ${destination} (${tools.names.dlq(destination)} partition ${letter.partition} offset ${letter.offset}, ${new Date(Number(letter.message.timestamp)).toISOString()})`,
    );
    console.log('\nheaders:');
    for (const [name, value] of Object.entries(letter.headers))
      console.log(`  ${name}: ${oneLine(value, 200)}`);
    console.log('\npayload:');
    console.log(payload);
    console.log('\nattempts:');
    if (own.length === 0) console.log('  (none in the delivery log: older than its retention)');
    for (const a of own) {
      console.log(
        `  ${a.at}  #${a.attempt}  ${a.outcome}  ${a.status ?? a.errorCode ?? ''}  ${a.latencyMs}ms${a.errorClass ? `  ${a.errorClass}` : ''}${a.replay ? '  (replay)' : ''}`,
      );
    }
    if (lastRequest) {
      console.log(`\nlast request (attempt ${lastRequest.attempt}), as signed:`);
      for (const [name, value] of Object.entries(lastRequest.headers)) console.log(`${name}: ${value}`);
      console.log('');
      console.log(lastRequest.body ?? payload);
    }
    return 0;
  });
}
