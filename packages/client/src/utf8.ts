const encoder = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** A lone UTF-16 surrogate has no UTF-8 form (it would silently become U+FFFD), so text holding one is refused. */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDFFF]/u.test(text);
}

/**
 * The pieces text may be cut between: grapheme clusters (so "👨‍👩‍👧" or "é" written as e + accent stay
 * whole), falling back to code points for a cluster longer than `maxBytes`. Never splits a code point.
 */
export function* splittableUnits(text: string, maxBytes: number): Generator<string> {
  const graphemes =
    typeof Intl.Segmenter === "function"
      ? Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text), (s) => s.segment)
      : Array.from(text);
  for (const grapheme of graphemes) {
    if (utf8Length(grapheme) <= maxBytes) yield grapheme;
    else yield* Array.from(grapheme);
  }
}
