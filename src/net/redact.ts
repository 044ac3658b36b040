// Keeps secrets out of what a receiver says back: a debug endpoint or a proxy that echoes the
// request (its Authorization header, an API key) must not make Courier store that value in a
// response snippet or an error text, and so in the delivery log, the DLQ, the logs or `inspect`.
// Every value given is replaced by `[redacted]`, raw, URL-encoded and base64 (a Basic credential
// is echoed decoded as often as not); a `Bearer`/`Basic` value's credential part on its own too.
// Values shorter than 6 characters are left alone: they would blank ordinary words. Pure.

export const REDACTED = '[redacted]';
const MIN_LENGTH = 6;

/** The forms of each secret a text may hold it in, longest first. */
export function secretForms(values: Iterable<string | undefined>): string[] {
  const forms = new Set<string>();
  const add = (v: string | undefined) => {
    if (!v || v.length < MIN_LENGTH) return;
    forms.add(v);
    forms.add(encodeURIComponent(v));
  };
  for (const value of values) {
    if (!value) continue;
    add(value);
    const scheme = /^(Bearer|Basic|Token)\s+(.+)$/i.exec(value);
    if (scheme) {
      add(scheme[2]);
      if (scheme[1]?.toLowerCase() === 'basic')
        add(Buffer.from(scheme[2] as string, 'base64').toString('utf8'));
    }
    // A Standard Webhooks secret's key, as the receiver may know it.
    if (value.startsWith('whsec_')) add(value.slice('whsec_'.length));
    if (value.startsWith('whsk_')) add(value.slice('whsk_'.length));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** The text with every form of every secret replaced by `[redacted]`. */
export function redact(text: string, forms: readonly string[]): string {
  let out = text;
  for (const f of forms) if (out.includes(f)) out = out.split(f).join(REDACTED);
  return out;
}
