/**
 * One output stream of the program, capped at `limitBytes`: each piece within the cap is
 * decoded and passed on as it comes, and nothing is kept, so the agent's memory stays flat
 * whatever the program prints. What comes past the cap is read and dropped, so the program
 * never blocks on a full pipe; `onOverflow` hears of its first byte.
 *
 * One decoder sees every piece, so a multi-byte character split across pieces is passed on
 * whole, and invalid UTF-8 always decodes the same way (U+FFFD).
 */
export class CappedOutput {
  readonly #limitBytes: number;
  readonly #onText: (text: string) => void;
  readonly #onOverflow: (() => void) | undefined;
  readonly #decoder = new TextDecoder();
  #keptBytes = 0;
  #truncated = false;

  constructor(limitBytes: number, onText: (text: string) => void, onOverflow?: () => void) {
    this.#limitBytes = limitBytes;
    this.#onText = onText;
    this.#onOverflow = onOverflow;
  }

  push(chunk: Buffer): void {
    const room = this.#limitBytes - this.#keptBytes;
    if (chunk.length > room) {
      if (room > 0) this.#pass(chunk.subarray(0, room), true);
      this.#keptBytes = this.#limitBytes;
      if (!this.#truncated) {
        this.#truncated = true;
        this.#onOverflow?.();
      }
      return;
    }
    this.#keptBytes += chunk.length;
    this.#pass(chunk, true);
  }

  /**
   * The stream is over. Output that ends in the middle of a character ends in U+FFFD; where
   * the cap cut the character in two, its first bytes are dropped instead.
   */
  end(): void {
    if (!this.#truncated) this.#pass(new Uint8Array(0), false);
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  #pass(bytes: Uint8Array, more: boolean): void {
    const text = this.#decoder.decode(bytes, { stream: more });
    if (text !== '') this.#onText(text);
  }
}
