// Plain-text tables for the CLI: columns padded to their widest cell, the last one not padded. Pure.

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const cells = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** One line of text for a table cell: control characters and newlines become spaces, cut to `max`. */
export function oneLine(text: string | undefined, max = 60): string {
  if (!text) return '-';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat || '-';
}
