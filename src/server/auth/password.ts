import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashes. etcd stores bcrypt hashes (cost --bcrypt-cost, default 10); Ketch uses Node's
 * built-in scrypt with a random 16-byte salt, so it needs no native module. --bcrypt-cost keeps its
 * meaning of "work factor": scrypt's N is 2^(cost+4), so the default 10 gives N = 16384 (about 16 MiB
 * and some tens of milliseconds per hash, like bcrypt at 10). Hashes are computed by the member that
 * receives the request, outside the apply path, and only the hash enters the Raft log.
 *
 * Format: "scrypt$<log2 N>$<r>$<p>$<salt base64>$<hash base64>".
 */

export const DEFAULT_BCRYPT_COST = 10;
/** bcrypt's own bounds; etcd falls back to the default outside them. */
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 31;
/** Memory is 128 * N * r bytes: cap N so a large cost cannot exhaust the member. */
const MAX_LOG2_N = 20;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, log2N: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** log2N;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export function scryptLog2N(bcryptCost: number): number {
  const cost = bcryptCost >= MIN_BCRYPT_COST && bcryptCost <= MAX_BCRYPT_COST ? bcryptCost : DEFAULT_BCRYPT_COST;
  return Math.min(cost + 4, MAX_LOG2_N);
}

export async function hashPassword(password: string, bcryptCost = DEFAULT_BCRYPT_COST): Promise<string> {
  const log2N = scryptLog2N(bcryptCost);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, log2N, R, P);
  return `scrypt$${log2N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches `encoded`; false for a malformed hash (never throws on bad input). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const log2N = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  if (!Number.isInteger(log2N) || log2N < 1 || log2N > MAX_LOG2_N || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) {
    return false;
  }
  const salt = Buffer.from(parts[4] as string, 'base64');
  const want = Buffer.from(parts[5] as string, 'base64');
  if (want.length !== KEY_BYTES) return false;
  const got = await derive(password, salt, log2N, r, p);
  return timingSafeEqual(got, want);
}
