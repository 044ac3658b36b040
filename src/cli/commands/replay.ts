// `courier replay`: re-sends a destination's dead letters (or delivered events) — a window, or
// exactly the events named — paced, after a readiness check.
import { readFileSync } from 'node:fs';
import type { CourierConfig } from '../../config/schema.ts';
import { replay, runReplay } from '../../dlq/replay.ts';
import { UsageError } from '../../errors.ts';
import type { Flags } from '../args.ts';
import { type CommandContext, destinationOf, isoTime, oneOf, positiveInt, printJson, str } from '../flags.ts';

/** Event ids from --event (comma-separated) and --ids-file (one a line; blank lines and # comments skipped). */
function eventIdsOf(flags: Flags): string[] | undefined {
  const inline = str(flags, 'event');
  const file = str(flags, 'ids-file');
  if (inline === undefined && file === undefined) return undefined;
  const ids: string[] = [];
  if (inline !== undefined) ids.push(...inline.split(','));
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--ids-file ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    ids.push(...text.split('\n').filter((line) => !line.trimStart().startsWith('#')));
  }
  const unique = [...new Set(ids.map((id) => id.trim()).filter(Boolean))];
  if (unique.length === 0) throw new UsageError('--event / --ids-file name no event id');
  return unique;
}

/** The parsed flags of `courier replay`, checked before anything connects. */
export function replayOptions(config: CourierConfig, flags: Flags) {
  const from = isoTime(flags, 'from');
  const to = isoTime(flags, 'to');
  if (from !== undefined && to !== undefined && Date.parse(to) <= Date.parse(from)) {
    throw new UsageError('--to must be after --from');
  }
  const eventIds = eventIdsOf(flags);
  if (eventIds && (from !== undefined || to !== undefined)) {
    throw new UsageError(
      '--event and --ids-file replay exactly those events; --from/--to select a window: use one or the other',
    );
  }
  const source = oneOf(flags, 'source', ['dlq', 'delivered', 'events'], 'dlq');
  if (source === 'events' && eventIds) {
    throw new UsageError(
      '--source events backfills a window of the events topic (--from/--to); --event and --ids-file name dead letters or delivered records',
    );
  }
  return {
    destination: destinationOf(config, flags, 'replay'),
    ...(from === undefined ? {} : { fromMs: Date.parse(from) }),
    ...(to === undefined ? {} : { toMs: Date.parse(to) }),
    ...(eventIds ? { eventIds } : {}),
    rate: positiveInt(flags, 'rate', 10),
    dryRun: flags['dry-run'] === true,
    force: flags.force === true,
    source,
  };
}

export async function replayCommand(ctx: CommandContext): Promise<number> {
  const o = replayOptions(ctx.config, ctx.flags);
  const options = { config: ctx.config, logger: ctx.logger, ...o };
  if (!ctx.json) return replay({ ...options, print: (line) => console.log(line) });
  const lines: string[] = [];
  const summary = await runReplay({ ...options, print: (line) => lines.push(line) });
  printJson({ destination: o.destination, source: o.source, dryRun: o.dryRun, ...summary, messages: lines });
  return 0;
}
