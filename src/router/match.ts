// Subscription matching: destinations' eventTypes are glob patterns ("contact.*", "*",
// "order.?.paid"). `*` matches any run of characters, `?` one character. Pure.

const cache = new Map<string, RegExp>();

function compile(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern
      .split('')
      .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`);
    cache.set(pattern, re);
  }
  return re;
}

export function matchesEventType(patterns: readonly string[], eventType: string): boolean {
  return patterns.some((p) => compile(p).test(eventType));
}
