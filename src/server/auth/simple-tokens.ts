import { randomInt } from 'node:crypto';

/**
 * etcd's simple tokens (--auth-token simple). The member that receives Authenticate picks a random
 * 16-letter prefix and proposes it; every member, on applying that entry, registers
 * "<prefix>.<raft index>" for the user. So a token works on every member that has applied its
 * entry (a member that has not yet waits for it), but lives only in memory: a member that restarts,
 * or catches up by snapshot, does not know tokens issued before, and answers "invalid auth token",
 * on which etcd's clients authenticate again. A token expires after --auth-token-ttl seconds
 * without use (etcd: 300), and dies when its user is deleted or changes password, or auth is
 * disabled.
 */

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PREFIX_LENGTH = 16;
/** How often expired tokens are swept (etcd: 1 s resolution). */
const SWEEP_INTERVAL_MS = 1000;

export const DEFAULT_AUTH_TOKEN_TTL_SECONDS = 300;

interface TokenEntry {
  user: string;
  expiresAtMs: number;
}

export class SimpleTokens {
  private readonly tokens = new Map<string, TokenEntry>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly ttlMs: number,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  static newPrefix(): string {
    let s = '';
    for (let i = 0; i < PREFIX_LENGTH; i++) s += LETTERS[randomInt(LETTERS.length)];
    return s;
  }

  /** The raft index a token was minted at, or undefined when it is not a simple token. */
  static indexOf(token: string): number | undefined {
    const parts = token.split('.');
    if (parts.length !== 2 || !/^[0-9]+$/.test(parts[1] as string)) return undefined;
    const index = Number(parts[1]);
    return Number.isSafeInteger(index) ? index : undefined;
  }

  assign(user: string, prefix: string, index: number): string {
    const token = `${prefix}.${index}`;
    this.tokens.set(token, { user, expiresAtMs: this.nowMs() + this.ttlMs });
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
    return token;
  }

  /** The token's user, its lifetime renewed; undefined when unknown or expired. */
  use(token: string): string | undefined {
    const entry = this.tokens.get(token);
    if (entry === undefined) return undefined;
    const now = this.nowMs();
    if (now >= entry.expiresAtMs) {
      this.tokens.delete(token);
      return undefined;
    }
    entry.expiresAtMs = now + this.ttlMs;
    return entry.user;
  }

  invalidateUser(user: string): void {
    for (const [token, entry] of this.tokens) if (entry.user === user) this.tokens.delete(token);
  }

  clear(): void {
    this.tokens.clear();
  }

  get size(): number {
    return this.tokens.size;
  }

  private sweep(): void {
    const now = this.nowMs();
    for (const [token, entry] of this.tokens) if (now >= entry.expiresAtMs) this.tokens.delete(token);
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.tokens.clear();
  }
}
