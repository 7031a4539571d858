/**
 * Message texts by the values they are formatted from, so that a text that recurs is one string: kernel
 * log lines and hazard texts repeat with the same few addresses and sizes over a run, and formatting them
 * anew (bigint to hex, concatenation) each time was a visible part of a sweep scenario's time; the event
 * encoder then also reads one flat string instead of a fresh one. Bounded: cleared when full. Strings are
 * immutable, so sharing one between runs and events changes nothing.
 */
export class TextCache<K> {
  private readonly texts = new Map<K, string>();
  private readonly limit: number;

  /** @param limit how many texts it holds before it starts again empty */
  constructor(limit = 4096) {
    this.limit = limit;
  }

  /** The text kept for `key`, or undefined. */
  get(key: K): string | undefined {
    return this.texts.get(key);
  }

  /** Keeps `text` for `key` and returns it. */
  set(key: K, text: string): string {
    if (this.texts.size >= this.limit) this.texts.clear();
    this.texts.set(key, text);
    return text;
  }
}
