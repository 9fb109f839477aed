/**
 * Per-message bookkeeping indexed by sequence number in growable typed
 * arrays: millions of messages cost a few bytes each and no per-message
 * objects for the garbage collector.
 */
export class SeqStore {
  sendAt = new Float64Array(1024);
  ackAt = new Float64Array(1024);
  deliverAt = new Float64Array(1024);
  /** Owner of each message: a pair index (dialogs) or 0 (fan-out). */
  owner = new Int32Array(1024);
  flags = new Uint8Array(1024);
  /** One past the highest sequence number used. */
  size = 0;

  static readonly ACKED = 1;
  static readonly DELIVERED = 2;
  static readonly FAILED = 4;
  static readonly RELEASED = 8;

  /** Makes room for `seq` and records it as sent at `at` by `owner`. */
  add(seq: number, at: number, owner: number): void {
    if (seq >= this.sendAt.length) this.grow(seq + 1);
    this.sendAt[seq] = at;
    this.owner[seq] = owner;
    this.flags[seq] = 0;
    if (seq >= this.size) this.size = seq + 1;
  }

  has(seq: number): boolean {
    return seq >= 0 && seq < this.size;
  }

  private grow(min: number): void {
    let n = this.sendAt.length;
    while (n < min) n *= 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.sendAt = f64(this.sendAt);
    this.ackAt = f64(this.ackAt);
    this.deliverAt = f64(this.deliverAt);
    const o = new Int32Array(n);
    o.set(this.owner);
    this.owner = o;
    const fl = new Uint8Array(n);
    fl.set(this.flags);
    this.flags = fl;
  }
}
