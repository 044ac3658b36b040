// A destination's own status rules: `retryOn` statuses are retried and `deadLetterOn` ones
// dead-lettered at once (class `permanent`), whatever the default classification says. A rule is a
// status (409), a range ("500-504") or a class ("5xx"). Pure.

export type StatusRange = readonly [number, number];

export interface StatusRules {
  retryOn: readonly StatusRange[];
  deadLetterOn: readonly StatusRange[];
}

/** A rule as written, as a range; a string naming the problem when it is not one. */
export function parseStatusRule(rule: number | string): StatusRange | string {
  const text = String(rule).trim().toLowerCase();
  let range: [number, number] | undefined;
  const cls = /^([1-5])xx$/.exec(text);
  const span = /^(\d{3})\s*-\s*(\d{3})$/.exec(text);
  if (/^\d{3}$/.test(text)) range = [Number(text), Number(text)];
  else if (cls) range = [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  else if (span) range = [Number(span[1]), Number(span[2])];
  if (!range) return `"${rule}" is not a status (409), a range (500-504) or a class (5xx)`;
  if (range[0] < 100 || range[1] > 599 || range[0] > range[1])
    return `"${rule}" is not a range of HTTP statuses`;
  return range;
}

function overlaps(a: StatusRange, b: StatusRange): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

/** What is wrong with a pair of rule lists (a 2xx in either, a status in both), each naming its rule. */
export function statusRuleProblems(
  rules: StatusRules,
): Array<{ list: keyof StatusRules; index: number; problem: string }> {
  const problems: Array<{ list: keyof StatusRules; index: number; problem: string }> = [];
  for (const list of ['retryOn', 'deadLetterOn'] as const) {
    rules[list].forEach((r, index) => {
      if (overlaps(r, [200, 299]))
        problems.push({ list, index, problem: 'a 2xx is a delivery: it cannot be retried or dead-lettered' });
    });
  }
  rules.deadLetterOn.forEach((d, index) => {
    const clash = rules.retryOn.find((r) => overlaps(r, d));
    if (clash) {
      problems.push({
        list: 'deadLetterOn',
        index,
        problem: `${d[0]}${d[1] > d[0] ? `-${d[1]}` : ''} is also in retryOn (${clash[0]}${clash[1] > clash[0] ? `-${clash[1]}` : ''}): a status is retried or dead-lettered, not both`,
      });
    }
  });
  return problems;
}

/** What a destination's rules say of a status: retry, dead-letter, or nothing (the default holds). */
export function ruleFor(status: number, rules: StatusRules | undefined): 'retry' | 'dead-letter' | undefined {
  if (!rules) return undefined;
  const within = (r: StatusRange) => status >= r[0] && status <= r[1];
  if (rules.deadLetterOn.some(within)) return 'dead-letter';
  if (rules.retryOn.some(within)) return 'retry';
  return undefined;
}
