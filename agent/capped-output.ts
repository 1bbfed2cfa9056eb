/**
 * Collects one output stream of the program, keeping at most `limitBytes` of it.
 *
 * Bytes are kept raw and decoded once at the end, so a multi-byte character split across
 * chunks decodes whole, and invalid UTF-8 always decodes the same way (U+FFFD). What comes
 * past the limit is read and dropped, so the program never blocks on a full pipe and the
 * agent's memory stays flat whatever it prints; `onOverflow` hears of the first such byte.
 */
export class CappedOutput {
  readonly #limitBytes: number;
  readonly #chunks: Buffer[] = [];
  #keptBytes = 0;
  #truncated = false;
  readonly #onOverflow: (() => void) | undefined;
  readonly #onKept: ((chunk: Buffer) => void) | undefined;

  /** `onKept` hears of each kept piece as it comes, for callers that stream the output live. */
  constructor(limitBytes: number, onOverflow?: () => void, onKept?: (chunk: Buffer) => void) {
    this.#limitBytes = limitBytes;
    this.#onOverflow = onOverflow;
    this.#onKept = onKept;
  }

  push(chunk: Buffer): void {
    const room = this.#limitBytes - this.#keptBytes;
    if (chunk.length > room) {
      if (room > 0) this.#keep(chunk.subarray(0, room));
      this.#keptBytes = this.#limitBytes;
      if (!this.#truncated) {
        this.#truncated = true;
        this.#onOverflow?.();
      }
      return;
    }
    this.#keep(chunk);
    this.#keptBytes += chunk.length;
  }

  #keep(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#onKept?.(chunk);
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  text(): string {
    // Where the cap cut a character in two, `stream: true` drops its first bytes instead of
    // turning them into U+FFFD; output that simply ends mid-character still shows U+FFFD.
    return new TextDecoder().decode(Buffer.concat(this.#chunks), { stream: this.#truncated });
  }
}
