/**
 * Client source addresses spread over 127.0.0.0/8.
 *
 * A TCP client bound to one local address gets at most one ephemeral port per
 * connection (about 28k with the default ip_local_port_range), so connection
 * tests that go past that bind each socket to `localAddress` from this pool.
 * Addresses start at 127.10.0.1, away from 127.0.0.1 where the servers
 * listen; `block` gives every scenario (or process) a disjoint range so that
 * sockets in TIME_WAIT from an earlier phase never collide.
 */
export class AddressPool {
  /**
   * @param perAddress sockets per source address @default 20000
   * @param block      disjoint range number (each block holds 4096 addresses) @default 0
   */
  constructor(
    readonly perAddress = 20000,
    readonly block = 0,
  ) {
    if (perAddress < 1) throw new Error('perAddress must be >= 1');
  }

  /** Source address for the `i`-th socket. */
  addressFor(i: number): string {
    return AddressPool.nth(this.block * 4096 + Math.floor(i / this.perAddress));
  }

  /** How many distinct addresses `count` sockets use. */
  addressesFor(count: number): number {
    return Math.ceil(count / this.perAddress);
  }

  /** The n-th address of 127.10.0.1 .. 127.255.255.254, skipping .0 and .255 host bytes. */
  static nth(n: number): string {
    if (n < 0 || !Number.isInteger(n)) throw new Error(`bad address index ${n}`);
    const last = (n % 254) + 1;
    const rest = Math.floor(n / 254);
    const third = rest % 256;
    const second = 10 + Math.floor(rest / 256);
    if (second > 255) throw new Error(`address index ${n} beyond 127.255.255.254`);
    return `127.${second}.${third}.${last}`;
  }
}
