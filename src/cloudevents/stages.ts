// Which of a destination's expressions runs for an event, in order: named in failures and read
// from the expression thread's cursor. Pure, dependency-free (the expression hosts load it).
export type ShapeStage = 'filter' | 'headers' | 'transform';
export const STAGES: readonly ShapeStage[] = ['filter', 'headers', 'transform'];
