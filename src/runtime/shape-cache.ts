/**
 * The compiled runs of an any-shape session, one per input shape signature: bounded, least recently
 * used out first. An entry evicted while runs are in flight on it is released when the last one ends.
 */

/** The signature of a set of feeds: each input's dims in input order ('x:1x3x48x320;…'). */
export function shapeSignature(inputs: readonly string[], dimsOf: (name: string) => readonly number[]): string {
  let key = '';
  for (const name of inputs) key += `${name}:${dimsOf(name).join('x')};`;
  return key;
}

interface Entry<V> {
  value: Promise<V>;
  running: number;
  evicted: boolean;
}

export class ShapeCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  /** How many values were made (a repeated signature makes none). */
  made = 0;

  constructor(
    readonly size: number,
    private readonly release: (value: V) => Promise<void>,
  ) {}

  get signatures(): string[] {
    return [...this.entries.keys()];
  }

  /** Runs `use` on the signature's value, making it first when it is not cached (a failed make is not cached). */
  async use<R>(key: string, make: () => Promise<V>, use: (value: V) => Promise<R>): Promise<R> {
    let e = this.entries.get(key);
    if (e) {
      // most recently used last
      this.entries.delete(key);
      this.entries.set(key, e);
    } else {
      e = { value: make(), running: 0, evicted: false };
      this.made++;
      const entry = e;
      entry.value.catch(() => this.entries.get(key) === entry && this.entries.delete(key));
      this.entries.set(key, e);
      this.evict();
    }
    e.running++;
    try {
      return await use(await e.value);
    } finally {
      if (--e.running === 0 && e.evicted) await this.free(e);
    }
  }

  private evict(): void {
    while (this.entries.size > this.size) {
      const [key, oldest] = this.entries.entries().next().value as [string, Entry<V>];
      this.entries.delete(key);
      oldest.evicted = true;
      if (oldest.running === 0) void this.free(oldest);
    }
  }

  private async free(e: Entry<V>): Promise<void> {
    const v = await e.value.catch(() => undefined);
    if (v !== undefined) await this.release(v);
  }

  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => this.free(e)));
  }
}
