// What a header value may hold to be sent as it was written (pure, and free of the schema
// library: the expression threads check the values they compute with it).

/**
 * Why `value` cannot be sent as a header value, or undefined when it can. undici refuses
 * control characters (CR, LF, NUL…) and anything above U+00FF; characters U+0080–U+00FF would be
 * sent as single Latin-1 bytes, not as the UTF-8 the user wrote, so only printable ASCII passes.
 */
export function headerValueProblem(value: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting them is the point
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    return 'header values may not contain control characters (CR, LF, NUL, …)';
  }
  if (/[^\t\x20-\x7e]/.test(value)) return 'header values must be ASCII';
  return undefined;
}
