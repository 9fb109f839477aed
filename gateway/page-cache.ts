/**
 * A byte-bounded LRU of rendered response bodies. History pages are kept with
 * the version the owning actor gave them (HistoryResult.version): the gateway
 * still asks the actor every time — access rules and delivered marks live
 * there — but only "still this version?", and sends the kept bytes when the
 * answer is yes.
 */
export class PageCache<V extends { body: Buffer }> {
  private readonly entries = new Map<string, V>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    // Map order is insertion order: re-inserting makes it the most recently used.
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    const cost = value.body.byteLength + key.length * 2 + 64;
    if (cost > this.maxBytes / 8) return;
    this.delete(key);
    this.entries.set(key, value);
    this.bytes += cost;
    for (const [k] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
  }

  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.bytes -= v.body.byteLength + key.length * 2 + 64;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
