// The replicated auth state: what the apply path makes of auth entries (decoded as a follower
// decodes them), permission checks over key ranges, persistence, and password hashes.
import { describe, expect, it } from "vitest";

import { MvccStore } from "../../src/mvcc/mvcc-store.js";
import { applyRequest } from "../../src/server/apply.js";
import { type AuthInfo, AuthStore } from "../../src/server/auth/auth-store.js";
import { coversKey, coversRange, permissionInterval } from "../../src/server/auth/key-ranges.js";
import { hashPassword, verifyPassword } from "../../src/server/auth/password.js";
import { SimpleTokens } from "../../src/server/auth/simple-tokens.js";
import { Membership } from "../../src/server/membership.js";
import { decodeInternalRequest, encodeInternalRequest, type InternalRequest } from "../../src/server/request-codec.js";
import { EtcdErrors } from "../../src/util/etcd-errors.js";

const b = (s: string): Buffer => Buffer.from(s);

describe("key ranges (etcd's meaning of range_end)", () => {
  const prefixA = permissionInterval(b("/a/"), b("/a0"));
  const keyK = permissionInterval(b("k"), Buffer.alloc(0));
  const fromM = permissionInterval(b("m"), Buffer.from([0]));

  it("a key is covered by an interval that holds it", () => {
    expect(coversKey([prefixA], b("/a/x"))).toBe(true);
    expect(coversKey([prefixA], b("/a0"))).toBe(false);
    expect(coversKey([keyK], b("k"))).toBe(true);
    expect(coversKey([keyK], b("k0"))).toBe(false);
    expect(coversKey([fromM], b("zzz"))).toBe(true);
    expect(coversKey([fromM], b("l"))).toBe(false);
  });

  it("a range must be covered entirely, possibly by several intervals", () => {
    const ab = permissionInterval(b("a"), b("c"));
    const cd = permissionInterval(b("c"), b("e"));
    expect(coversRange([ab, cd], b("a"), b("e"))).toBe(true);
    expect(coversRange([cd, ab], b("b"), b("d"))).toBe(true);
    expect(coversRange([ab], b("a"), b("d"))).toBe(false);
    expect(coversRange([ab, permissionInterval(b("d"), b("f"))], b("a"), b("e"))).toBe(false); // gap [c, d)
    expect(coversRange([prefixA], b("/a/"), Buffer.from([0]))).toBe(false); // from-key needs an open end
    expect(coversRange([fromM], b("n"), Buffer.from([0]))).toBe(true);
  });
});

/** Applies an internal request as a follower does: encoded, then decoded from a plain Uint8Array. */
function applyAsFollower(auth: AuthStore, tokens: SimpleTokens, mvcc: MvccStore, req: Omit<InternalRequest, "id">, who?: AuthInfo, index = 1) {
  const header = who === undefined ? {} : { auth: { username: who.username, auth_revision: String(who.revision) } };
  const bytes = encodeInternalRequest({ ...req, ...header, id: "x:1" } as InternalRequest);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return applyRequest(decodeInternalRequest(copy), { mvcc, membership: new Membership(), maxTxnOps: 128, auth, tokens, index });
}

describe("auth entries applied to the store", () => {
  it("root, a role on a prefix and a user: what each may do, and the errors etcd gives", () => {
    const auth = new AuthStore();
    const tokens = new SimpleTokens(60_000);
    const mvcc = new MvccStore();
    const apply = (req: Omit<InternalRequest, "id">, who?: AuthInfo) => applyAsFollower(auth, tokens, mvcc, req, who);
    expect(apply({ request: "auth_enable", auth_enable: {} }).error).toBe(EtcdErrors.rootUserNotExist);
    expect(apply({ request: "user_add", user_add: { name: "root", password_hash: "h", options: {} } }).error).toBeUndefined();
    expect(apply({ request: "user_add", user_add: { name: "root", password_hash: "h", options: {} } }).error).toBe(EtcdErrors.userAlreadyExist);
    expect(apply({ request: "auth_enable", auth_enable: {} }).error).toBe(EtcdErrors.rootRoleNotExist);
    apply({ request: "user_grant_role", user_grant_role: { user: "root", role: "root" } });
    expect(apply({ request: "auth_enable", auth_enable: {} }).error).toBeUndefined();
    expect(auth.enabled).toBe(true);

    const root: AuthInfo = { username: "root", revision: auth.revision };
    expect(apply({ request: "role_add", role_add: { name: "r" } }).error).toBe(EtcdErrors.userEmpty); // no requester
    expect(apply({ request: "role_add", role_add: { name: "r" } }, root).error).toBeUndefined();
    const grant = apply(
      { request: "role_grant_permission", role_grant_permission: { name: "r", perm: { permType: "READWRITE", key: b("/a/"), range_end: b("/a0") } } },
      root,
    );
    expect(grant.error).toBeUndefined();
    expect(auth.role("r")?.perms).toEqual([{ permType: "READWRITE", key: b("/a/"), rangeEnd: b("/a0") }]);
    apply({ request: "user_add", user_add: { name: "alice", password_hash: "h", options: {} } }, root);
    apply({ request: "user_grant_role", user_grant_role: { user: "alice", role: "r" } }, root);

    const alice: AuthInfo = { username: "alice", revision: auth.revision };
    expect(apply({ request: "put", put: { key: b("/a/x"), value: b("1") } }, alice).error).toBeUndefined();
    expect(apply({ request: "put", put: { key: b("/b/x"), value: b("1") } }, alice).error).toBe(EtcdErrors.permissionDenied);
    expect(apply({ request: "put", put: { key: b("/a/x"), value: b("1") } }).error).toBe(EtcdErrors.userEmpty);
    expect(apply({ request: "role_add", role_add: { name: "s" } }, alice).error).toBe(EtcdErrors.permissionDenied);
    const txn = { compare: [], success: [{ request_put: { key: b("/a/y"), value: b("1") } }, { request_delete_range: { key: b("/c") } }], failure: [] };
    expect(apply({ request: "txn", txn }, alice).error).toBe(EtcdErrors.permissionDenied);
    expect(mvcc.currentRevision).toBe(2); // the refused txn wrote nothing

    // A revoked permission refuses requests checked against the older auth revision at once.
    apply({ request: "role_revoke_permission", role_revoke_permission: { role: "r", key: b("/a/"), range_end: b("/a0") } }, root);
    expect(apply({ request: "put", put: { key: b("/a/x"), value: b("2") } }, alice).error).toBe(EtcdErrors.authOldRevision);
    expect(apply({ request: "put", put: { key: b("/a/x"), value: b("2") } }, { username: "alice", revision: auth.revision }).error).toBe(
      EtcdErrors.permissionDenied,
    );
    expect(apply({ request: "role_revoke_permission", role_revoke_permission: { role: "r", key: b("/a/"), range_end: b("/a0") } }, root).error).toBe(
      EtcdErrors.permissionNotGranted,
    );
    const root2: AuthInfo = { username: "root", revision: auth.revision };
    expect(apply({ request: "user_delete", user_delete: { name: "root" } }, root2).error).toBe(EtcdErrors.invalidAuthMgmt);
    expect(apply({ request: "user_revoke_role", user_revoke_role: { name: "alice", role: "x" } }, root2).error).toBe(EtcdErrors.roleNotGranted);

    // Tokens: minted on apply with the entry's index, gone when the user changes password.
    const t = applyAsFollower(auth, tokens, mvcc, { request: "authenticate", authenticate: { name: "alice", token_prefix: "abcdefghijklmnop" } }, undefined, 42);
    expect(t.response).toEqual({ token: "abcdefghijklmnop.42" });
    expect(tokens.use("abcdefghijklmnop.42")).toBe("alice");
    apply({ request: "user_change_password", user_change_password: { name: "alice", password_hash: "h2" } }, root2);
    expect(tokens.use("abcdefghijklmnop.42")).toBeUndefined();

    // What is persisted and what a snapshot carries comes back the same.
    const again = AuthStore.fromJSON(JSON.parse(JSON.stringify(auth.toJSON())));
    expect(again.toJSON()).toEqual(auth.toJSON());
    expect(again.role("r")?.perms).toEqual([]);
  });
});

describe("password hashes", () => {
  it("verify the right password only; salted, so two hashes of one password differ", async () => {
    const h1 = await hashPassword("secret", 4);
    const h2 = await hashPassword("secret", 4);
    expect(h1).not.toBe(h2);
    expect(h1).not.toContain("secret");
    expect(await verifyPassword("secret", h1)).toBe(true);
    expect(await verifyPassword("Secret", h1)).toBe(false);
    expect(await verifyPassword("secret", "garbage")).toBe(false);
  });
});
