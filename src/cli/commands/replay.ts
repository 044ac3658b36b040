// `courier replay`: re-sends a destination's dead letters (or delivered events) — a window, or
// exactly the events named — paced, after a readiness check.
import { readFileSync } from 'node:fs';
import { idProblem } from '../../cloudevents/cloudEvent.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { replay, runReplay } from '../../dlq/replay.ts';
import { UsageError } from '../../errors.ts';
import type { Flags } from '../args.ts';
import {
  type CommandContext,
  destinationOf,
  isoTime,
  oneOf,
  positiveInt,
  printJson,
  str,
  strs,
} from '../flags.ts';

/** Standard input, read once (the flags are checked before the command runs, and again by it). */
let stdin: string | undefined;
function stdinText(): string {
  stdin ??= readFileSync(0, 'utf8');
  return stdin;
}

/**
 * Event ids from every --event (comma-separated) and --ids-file (one a line; blank lines and
 * # comments skipped; `-` is standard input), in order, each once. A line that is not an event id
 * is named with its line number.
 */
export function eventIdsOf(flags: Flags, readStdin: () => string = stdinText): string[] | undefined {
  const inline = strs(flags, 'event');
  const file = str(flags, 'ids-file');
  if (inline.length === 0 && file === undefined) return undefined;
  const ids: string[] = [];
  for (const value of inline) {
    for (const id of value.split(',').map((x) => x.trim())) {
      if (!id) continue;
      const problem = idProblem(id);
      if (problem) throw new UsageError(`--event ${JSON.stringify(id)}: ${problem}`);
      ids.push(id);
    }
  }
  if (file !== undefined) {
    const where = file === '-' ? 'standard input' : file;
    let text: string;
    try {
      text = file === '-' || file === '/dev/stdin' ? readStdin() : readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--ids-file ${where}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/\r$/, '').trim();
      if (!line || line.startsWith('#')) return;
      const problem = idProblem(line);
      if (problem) throw new UsageError(`--ids-file ${where}, line ${i + 1}: ${problem}`);
      ids.push(line);
    });
  }
  const unique = [...new Set(ids)];
  if (unique.length === 0) {
    throw new UsageError(
      `${file === undefined ? '--event' : `--ids-file ${file === '-' ? 'standard input' : file}`} names no event id`,
    );
  }
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
