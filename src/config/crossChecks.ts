// Checks that compare several destinations of courier.yaml (duplicate ids). They read the raw
// document, not zod's output, because zod skips object-level refinements as soon as any field
// inside fails, and a duplicate id must be reported together with every other problem.
import { formatPath } from './path.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** One "path: message" line per problem found; problems of single fields are zod's. */
export function crossFieldProblems(input: unknown): string[] {
  if (!isObject(input)) return [];
  const problems: string[] = [];
  if (Array.isArray(input.destinations)) {
    const seen = new Map<string, number>();
    input.destinations.forEach((d, i) => {
      if (!isObject(d)) return;
      if (typeof d.id === 'string') {
        const first = seen.get(d.id);
        if (first !== undefined) {
          problems.push(
            `${formatPath(['destinations', i, 'id'])}: duplicate id "${d.id}" (also destinations[${first}])`,
          );
        } else {
          seen.set(d.id, i);
        }
      }
    });
  }
  return problems;
}
