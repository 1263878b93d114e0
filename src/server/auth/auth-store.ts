import type { StorageOp } from '../../mvcc/types.js';
import { EtcdErrors } from '../../util/etcd-errors.js';
import { coversRange, coversKey, type KeyInterval, permissionInterval } from './key-ranges.js';

/**
 * The replicated auth state, as etcd 3.4's authStore keeps it in its auth, authUsers and authRoles
 * buckets: the enabled flag, the auth revision (bumped by every change that can take a right away,
 * so requests checked against an older one are refused), users with their password hash and sorted
 * roles, and roles with their key permissions sorted by key. Every method that changes it is called
 * from the apply path only, so every member computes the same state from the same entries.
 */

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/** The one LevelDB record that persists the whole auth state (it is small: users and roles). */
export const AUTH_RECORD_PREFIX = Buffer.from('a');
const AUTH_STATE_KEY = Buffer.from('a/state');

export type PermType = 'READ' | 'WRITE' | 'READWRITE';
const PERM_TYPES: readonly PermType[] = ['READ', 'WRITE', 'READWRITE'];

export interface AuthPermission {
  permType: PermType;
  key: Buffer;
  /** Empty: the key alone; "\0": every key from `key` on. */
  rangeEnd: Buffer;
}

export interface AuthUser {
  name: string;
  /** Salted hash (password.ts); empty for a user added with --no-password. */
  passwordHash: string;
  /** Sorted, as etcd keeps them. */
  roles: string[];
  noPassword: boolean;
}

export interface AuthRole {
  name: string;
  /** Sorted by key, as etcd keeps them. */
  perms: AuthPermission[];
}

/** Who a request comes from: the token's user and the auth revision it was checked against. */
export interface AuthInfo {
  username: string;
  revision: number;
}

/** The state as JSON (state snapshots, the LevelDB record): keys as base64. */
export interface AuthStateJSON {
  enabled: boolean;
  revision: number;
  users: Array<{ name: string; passwordHash: string; roles: string[]; noPassword: boolean }>;
  roles: Array<{ name: string; perms: Array<{ permType: PermType; key: string; rangeEnd: string }> }>;
}

interface UserRanges {
  read: KeyInterval[];
  write: KeyInterval[];
}

export class AuthStore {
  private enabledFlag = false;
  /** etcd starts the auth revision at 1, so 0 always means "no user given". */
  private rev = 1;
  private readonly users = new Map<string, AuthUser>();
  private readonly roles = new Map<string, AuthRole>();
  /** Per user: the union of its roles' ranges (etcd's rangePermCache); cleared on every change. */
  private readonly rangeCache = new Map<string, UserRanges>();

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  user(name: string): AuthUser | undefined {
    return this.users.get(name);
  }

  role(name: string): AuthRole | undefined {
    return this.roles.get(name);
  }

  userNames(): string[] {
    return [...this.users.keys()].sort();
  }

  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // ---- Changes (apply path only). Each returns the records to persist, or throws an EtcdError
  // ---- and changes nothing.

  enable(): StorageOp[] {
    if (this.enabledFlag) return [];
    const root = this.users.get(ROOT_USER);
    if (root === undefined) throw EtcdErrors.rootUserNotExist;
    if (!root.roles.includes(ROOT_ROLE)) throw EtcdErrors.rootRoleNotExist;
    this.enabledFlag = true;
    return this.changed(false);
  }

  disable(): StorageOp[] {
    if (!this.enabledFlag) return [];
    this.enabledFlag = false;
    return this.changed(true);
  }

  userAdd(name: string, passwordHash: string, noPassword: boolean): StorageOp[] {
    if (name === '') throw EtcdErrors.userEmpty;
    if (this.users.has(name)) throw EtcdErrors.userAlreadyExist;
    this.users.set(name, { name, passwordHash: noPassword ? '' : passwordHash, roles: [], noPassword });
    return this.changed(true);
  }

  userDelete(name: string): StorageOp[] {
    if (this.enabledFlag && name === ROOT_USER) throw EtcdErrors.invalidAuthMgmt;
    if (!this.users.delete(name)) throw EtcdErrors.userNotFound;
    return this.changed(true);
  }

  userChangePassword(name: string, passwordHash: string): StorageOp[] {
    const user = this.users.get(name);
    if (user === undefined) throw EtcdErrors.userNotFound;
    user.passwordHash = passwordHash;
    return this.changed(true);
  }

  userGrantRole(name: string, role: string): StorageOp[] {
    const user = this.users.get(name);
    if (user === undefined) throw EtcdErrors.userNotFound;
    // The root role needs no role record (etcd special-cases it).
    if (role !== ROOT_ROLE && !this.roles.has(role)) throw EtcdErrors.roleNotFound;
    if (user.roles.includes(role)) return [];
    user.roles = [...user.roles, role].sort();
    return this.changed(true);
  }

  userRevokeRole(name: string, role: string): StorageOp[] {
    if (this.enabledFlag && name === ROOT_USER && role === ROOT_ROLE) throw EtcdErrors.invalidAuthMgmt;
    const user = this.users.get(name);
    if (user === undefined) throw EtcdErrors.userNotFound;
    if (!user.roles.includes(role)) throw EtcdErrors.roleNotGranted;
    user.roles = user.roles.filter((r) => r !== role);
    return this.changed(true);
  }

  roleAdd(name: string): StorageOp[] {
    if (name === '') throw EtcdErrors.roleEmpty;
    if (this.roles.has(name)) throw EtcdErrors.roleAlreadyExist;
    this.roles.set(name, { name, perms: [] });
    return this.changed(true);
  }

  roleDelete(name: string): StorageOp[] {
    if (this.enabledFlag && name === ROOT_ROLE) throw EtcdErrors.invalidAuthMgmt;
    if (!this.roles.delete(name)) throw EtcdErrors.roleNotFound;
    for (const user of this.users.values()) user.roles = user.roles.filter((r) => r !== name);
    return this.changed(true);
  }

  roleGrantPermission(name: string, perm: AuthPermission): StorageOp[] {
    const role = this.roles.get(name);
    if (role === undefined) throw EtcdErrors.roleNotFound;
    if (!PERM_TYPES.includes(perm.permType)) throw new RangeError(`unknown permission type ${String(perm.permType)}`);
    const same = role.perms.find((p) => p.key.equals(perm.key) && p.rangeEnd.equals(perm.rangeEnd));
    if (same !== undefined) same.permType = perm.permType;
    else {
      role.perms.push({ permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) });
      role.perms.sort((a, b) => Buffer.compare(a.key, b.key));
    }
    return this.changed(true);
  }

  roleRevokePermission(name: string, key: Buffer, rangeEnd: Buffer): StorageOp[] {
    const role = this.roles.get(name);
    if (role === undefined) throw EtcdErrors.roleNotFound;
    const kept = role.perms.filter((p) => !(p.key.equals(key) && p.rangeEnd.equals(rangeEnd)));
    if (kept.length === role.perms.length) throw EtcdErrors.permissionNotGranted;
    role.perms = kept;
    return this.changed(true);
  }

  private changed(bumpRevision: boolean): StorageOp[] {
    if (bumpRevision) this.rev++;
    this.rangeCache.clear();
    return [{ type: 'put', key: AUTH_STATE_KEY, value: Buffer.from(JSON.stringify(this.toJSON())) }];
  }

  // ---- Checks (etcd's isOpPermitted and IsAdminPermitted).

  /** Read access to [key, rangeEnd) (rangeEnd empty: the key alone; "\0": from key on). */
  checkRange(info: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer): void {
    this.checkOp(info, key, rangeEnd, 'read');
  }

  checkPut(info: AuthInfo | undefined, key: Buffer): void {
    this.checkOp(info, key, Buffer.alloc(0), 'write');
  }

  checkDeleteRange(info: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer): void {
    this.checkOp(info, key, rangeEnd, 'write');
  }

  /** Root-only operations (user and role management, snapshot, defragment, hash, move-leader). */
  checkAdmin(info: AuthInfo | undefined): void {
    if (!this.enabledFlag) return;
    if (info === undefined || info.username === '') throw EtcdErrors.userEmpty;
    const user = this.users.get(info.username);
    if (user === undefined) throw EtcdErrors.userNotFound;
    if (!user.roles.includes(ROOT_ROLE)) throw EtcdErrors.permissionDenied;
  }

  /** Whether `info` may do root-only operations (without throwing). */
  isAdmin(info: AuthInfo | undefined): boolean {
    if (!this.enabledFlag) return true;
    const user = info === undefined ? undefined : this.users.get(info.username);
    return user?.roles.includes(ROOT_ROLE) ?? false;
  }

  private checkOp(info: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer, access: 'read' | 'write'): void {
    if (!this.enabledFlag) return;
    if (info === undefined || info.revision === 0) throw EtcdErrors.userEmpty;
    if (info.revision < this.rev) throw EtcdErrors.authOldRevision;
    const user = this.users.get(info.username);
    if (user === undefined) throw EtcdErrors.permissionDenied;
    if (user.roles.includes(ROOT_ROLE)) return;
    const ranges = this.rangesOf(user)[access];
    const ok = rangeEnd.length === 0 ? coversKey(ranges, key) : coversRange(ranges, key, rangeEnd);
    if (!ok) throw EtcdErrors.permissionDenied;
  }

  private rangesOf(user: AuthUser): UserRanges {
    let ranges = this.rangeCache.get(user.name);
    if (ranges === undefined) {
      ranges = { read: [], write: [] };
      for (const roleName of user.roles) {
        for (const p of this.roles.get(roleName)?.perms ?? []) {
          const iv = permissionInterval(p.key, p.rangeEnd);
          if (p.permType !== 'WRITE') ranges.read.push(iv);
          if (p.permType !== 'READ') ranges.write.push(iv);
        }
      }
      this.rangeCache.set(user.name, ranges);
    }
    return ranges;
  }

  // ---- Persistence and snapshots.

  toJSON(): AuthStateJSON {
    return {
      enabled: this.enabledFlag,
      revision: this.rev,
      users: [...this.users.values()].map((u) => ({ name: u.name, passwordHash: u.passwordHash, roles: [...u.roles], noPassword: u.noPassword })),
      roles: [...this.roles.values()].map((r) => ({
        name: r.name,
        perms: r.perms.map((p) => ({ permType: p.permType, key: p.key.toString('base64'), rangeEnd: p.rangeEnd.toString('base64') })),
      })),
    };
  }

  /** A store holding `json` (undefined: a fresh one, as in snapshots from before auth existed). */
  static fromJSON(json: AuthStateJSON | undefined): AuthStore {
    const store = new AuthStore();
    if (json === undefined) return store;
    if (typeof json.enabled !== 'boolean' || !Number.isSafeInteger(json.revision) || !Array.isArray(json.users) || !Array.isArray(json.roles)) {
      throw new Error('corrupt auth state');
    }
    store.enabledFlag = json.enabled;
    store.rev = json.revision;
    for (const u of json.users) {
      store.users.set(u.name, { name: u.name, passwordHash: u.passwordHash, roles: [...u.roles], noPassword: u.noPassword });
    }
    for (const r of json.roles) {
      store.roles.set(r.name, {
        name: r.name,
        perms: r.perms.map((p) => ({ permType: p.permType, key: Buffer.from(p.key, 'base64'), rangeEnd: Buffer.from(p.rangeEnd, 'base64') })),
      });
    }
    return store;
  }

  /** The store persisted in these records (the 'a' keyspace), or a fresh one. */
  static fromRecords(records: Iterable<[Buffer, Buffer]>): AuthStore {
    for (const [key, value] of records) {
      if (key.equals(AUTH_STATE_KEY)) return AuthStore.fromJSON(JSON.parse(value.toString()) as AuthStateJSON);
    }
    return new AuthStore();
  }

  /** Records that persist `json` into an empty 'a' keyspace (snapshot install, restore). */
  static opsFor(json: AuthStateJSON | undefined): StorageOp[] {
    return json === undefined ? [] : [{ type: 'put', key: AUTH_STATE_KEY, value: Buffer.from(JSON.stringify(json)) }];
  }
}
