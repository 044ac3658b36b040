// Poison records: how a holder of a partition knows that the process before it died with records
// in hand, and what it does about them. Before working on records, a holder writes a mark (the
// range of offsets in hand, its own token, and how many deaths that range already caused); a
// graceful stop or a rebalance takes the mark away. A new holder that finds someone else's mark
// knows its predecessor died holding that range: it works the range one record at a time, each
// under a mark of its own, so a death from then on names exactly one record. A record whose mark
// has seen `CRASHES_TO_MOVE_ASIDE` deaths is moved aside (class `crash-loop`) and the partition
// moves on. Pure.

/** Deaths while holding a record before it is moved aside. */
export const CRASHES_TO_MOVE_ASIDE = 3;

/** What a holder wrote before working on a partition's records. */
export interface WorkMark {
  from: number;
  to: number;
  owner: string;
  /** Deaths already put down to exactly this range (only a single record's mark carries any). */
  crashes: number;
}

/** A range a dead predecessor held, with the deaths it now accounts for. */
export interface Suspect {
  from: number;
  to: number;
  crashes: number;
}

/** What the mark left on a partition says to its new holder `me`. */
export function suspectOf(mark: WorkMark | undefined, me: string): Suspect | undefined {
  if (!mark || mark.owner === me) return undefined;
  return { from: mark.from, to: mark.to, crashes: mark.crashes + 1 };
}

export type SuspectStep =
  | { kind: 'normal' }
  /** Work it alone, under a mark of its own carrying `crashes`. */
  | { kind: 'alone'; crashes: number }
  /** Its holders died `crashes` times holding it alone: move it aside. */
  | { kind: 'aside'; crashes: number };

/** How to work the record at `offset`, given what a dead predecessor held. */
export function suspectStep(suspect: Suspect | undefined, offset: number): SuspectStep {
  if (!suspect || offset < suspect.from || offset > suspect.to) return { kind: 'normal' };
  if (suspect.from === suspect.to && suspect.crashes >= CRASHES_TO_MOVE_ASIDE)
    return { kind: 'aside', crashes: suspect.crashes };
  return { kind: 'alone', crashes: suspect.from === suspect.to ? suspect.crashes : 1 };
}

/** A mark as stored (`owner|from|to|crashes`), and back. */
export function formatMark(mark: WorkMark): string {
  return `${mark.owner}|${mark.from}|${mark.to}|${mark.crashes}`;
}

export function parseMark(text: string | null | undefined): WorkMark | undefined {
  if (!text) return undefined;
  const [owner, from, to, crashes] = text.split('|');
  const n = [Number(from), Number(to), Number(crashes)];
  if (!owner || n.some((x) => !Number.isSafeInteger(x))) return undefined;
  return { owner, from: n[0] as number, to: n[1] as number, crashes: n[2] as number };
}
