/** Input the provider will not act on: a catalogue reason plus a message telling the user what to change. */
export class Refusal extends Error {
  override name = 'Refusal';
  readonly reason: string;
  /** Referenced data may appear later: retry on a timer, not only on spec change. */
  readonly transient: boolean;
  constructor(reason: string, message: string, transient = false) {
    super(message);
    this.reason = reason;
    this.transient = transient;
  }
}
