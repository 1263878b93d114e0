// user, role and auth (etcdctl 3.4's user_command.go, role_command.go, auth_command.go), with
// etcdctl's simple output texts. Other -w formats are not offered for these commands yet.

import type { CommandContext, CommandSpec } from "./command.js";
import { ExitCode, fail } from "./exit-codes.js";
import type { FlagSpec } from "./flag-parser.js";
import { bytesOf, prefixRangeEnd, rpc } from "./rpc.js";

interface RoleGetResponse {
  perm: Array<{ permType: string; key: Buffer; range_end: Buffer }>;
}

function onlySimple(ctx: CommandContext): void {
  if (ctx.global.writeOut !== "simple") fail(ExitCode.badFeature, `-w ${ctx.global.writeOut} is not supported for user, role and auth commands by ketchctl`);
}

async function call<Res>(ctx: CommandContext, name: string, request: object): Promise<Res> {
  onlySimple(ctx);
  const client = await ctx.client();
  return rpc(client.authCall<Res>(name, request));
}

function oneArg(ctx: CommandContext, what: string): string {
  if (ctx.args.length !== 1) fail(ExitCode.badArgs, `${what} command requires ${what.split(" ")[1]} name as its argument`);
  return ctx.args[0] as string;
}

/** etcdctl's readPasswordInteractive: a prompt on a terminal, else one line of standard input. */
async function readPassword(ctx: CommandContext, prompt: string): Promise<string> {
  const interactive = ctx.flags.bool("interactive");
  if (interactive && process.stdin.isTTY) process.stderr.write(`${prompt}: `);
  const line = await ctx.readLine();
  if (line === null) fail(ExitCode.badArgs, "failed to read password");
  return line;
}

// ---- user

const userAdd: CommandSpec = {
  name: "add",
  use: "add <user name or user:password> [options]",
  short: "Adds a new user",
  flags: [
    { name: "interactive", kind: "bool", defaultValue: true, usage: "Read password from stdin instead of interactive terminal" },
    { name: "new-user-password", kind: "string", defaultValue: "", usage: "Supply password from the command line flag" },
    { name: "no-password", kind: "bool", defaultValue: false, usage: "Create a user without password (CN based auth only)" },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) fail(ExitCode.badArgs, "user add command requires user name as its argument");
    const noPassword = ctx.flags.bool("no-password");
    const fromFlag = ctx.flags.string("new-user-password");
    let name = ctx.args[0] as string;
    let password = "";
    if (fromFlag !== "") password = fromFlag;
    else {
      const colon = name.indexOf(":");
      if (colon >= 0) {
        password = name.slice(colon + 1);
        name = name.slice(0, colon);
        if (name === "") fail(ExitCode.badArgs, "empty user name is not allowed");
      } else if (!noPassword) {
        password = await readPassword(ctx, "Password of " + name);
      }
    }
    await call(ctx, "UserAdd", { name, password, options: { no_password: noPassword } });
    ctx.output.out(`User ${name} created\n`);
  },
};

const userDelete: CommandSpec = {
  name: "delete",
  use: "delete <user name>",
  short: "Deletes a user",
  async run(ctx) {
    const name = oneArg(ctx, "user delete");
    await call(ctx, "UserDelete", { name });
    ctx.output.out(`User ${name} deleted\n`);
  },
};

const userGet: CommandSpec = {
  name: "get",
  use: "get <user name> [options]",
  short: "Gets detailed information of a user",
  flags: [{ name: "detail", kind: "bool", defaultValue: false, usage: "Show permissions of roles granted to the user" }],
  async run(ctx) {
    const name = oneArg(ctx, "user get");
    const r = await call<{ roles: string[] }>(ctx, "UserGet", { name });
    if (ctx.flags.bool("detail")) {
      let text = `User: ${name}\n`;
      for (const role of r.roles) {
        const perms = await call<RoleGetResponse>(ctx, "RoleGet", { role });
        text += `\n${roleText(role, perms)}`;
      }
      ctx.output.out(text);
      return;
    }
    ctx.output.out(`User: ${name}\nRoles:${r.roles.map((role) => ` ${role}`).join("")}\n`);
  },
};

const userList: CommandSpec = {
  name: "list",
  use: "list",
  short: "Lists all users",
  async run(ctx) {
    const r = await call<{ users: string[] }>(ctx, "UserList", {});
    ctx.output.out(r.users.map((u) => `${u}\n`).join(""));
  },
};

const userPasswd: CommandSpec = {
  name: "passwd",
  use: "passwd <user name> [options]",
  short: "Changes password of user",
  flags: [{ name: "interactive", kind: "bool", defaultValue: true, usage: "If true, read password from stdin instead of interactive terminal" }],
  async run(ctx) {
    const name = oneArg(ctx, "user passwd");
    const password = await readPassword(ctx, "Password of " + name);
    await call(ctx, "UserChangePassword", { name, password });
    ctx.output.out("Password updated\n");
  },
};

const userGrantRole: CommandSpec = {
  name: "grant-role",
  use: "grant-role <user name> <role name>",
  short: "Grants a role to a user",
  async run(ctx) {
    if (ctx.args.length !== 2) fail(ExitCode.badArgs, "user grant command requires user name and role name as its argument");
    const [user, role] = ctx.args as [string, string];
    await call(ctx, "UserGrantRole", { user, role });
    ctx.output.out(`Role ${role} is granted to user ${user}\n`);
  },
};

const userRevokeRole: CommandSpec = {
  name: "revoke-role",
  use: "revoke-role <user name> <role name>",
  short: "Revokes a role from a user",
  async run(ctx) {
    if (ctx.args.length !== 2) fail(ExitCode.badArgs, "user revoke-role requires user name and role name as its argument");
    const [name, role] = ctx.args as [string, string];
    await call(ctx, "UserRevokeRole", { name, role });
    ctx.output.out(`Role ${role} is revoked from user ${name}\n`);
  },
};

export const userCommand: CommandSpec = {
  name: "user",
  use: "user <subcommand>",
  short: "User related commands",
  subcommands: [userAdd, userDelete, userGet, userList, userPasswd, userGrantRole, userRevokeRole],
};

// ---- role

/** etcdctl's simple RoleGet text. */
function roleText(role: string, r: RoleGetResponse): string {
  const range = (key: string, end: string): string => {
    let line = end !== "\x00" ? `\t[${key}, ${end})` : `\t[${key}, <open ended>`;
    if (prefixRangeEnd(Buffer.from(key)).toString() === end) line += ` (prefix ${key})`;
    return `${line}\n`;
  };
  const list = (types: string[]): string =>
    r.perm
      .filter((p) => types.includes(p.permType))
      .map((p) => (p.range_end.length === 0 ? `\t${p.key.toString()}\n` : range(p.key.toString(), p.range_end.toString())))
      .join("");
  return `Role ${role}\nKV Read:\n${list(["READ", "READWRITE"])}KV Write:\n${list(["WRITE", "READWRITE"])}`;
}

const permFlags: FlagSpec[] = [
  { name: "prefix", kind: "bool", defaultValue: false, usage: "grant a prefix permission" },
  { name: "from-key", kind: "bool", defaultValue: false, usage: "grant a permission of keys that are greater than or equal to the given key using byte compare" },
];

/** etcdctl's permRange: the key and range end a grant or revoke names. */
function permRange(ctx: CommandContext, args: string[]): { key: string; end: string } {
  const prefix = ctx.flags.bool("prefix");
  const fromKey = ctx.flags.bool("from-key");
  const key = args[0] as string;
  if (key === "") {
    if (prefix && fromKey) fail(ExitCode.badArgs, "--from-key and --prefix flags are mutually exclusive");
    return { key: "\x00", end: prefix || fromKey ? "\x00" : "" };
  }
  if (args.length === 1) {
    if (prefix) {
      if (fromKey) fail(ExitCode.badArgs, "--from-key and --prefix flags are mutually exclusive");
      return { key, end: prefixRangeEnd(Buffer.from(key)).toString() };
    }
    return { key, end: fromKey ? "\x00" : "" };
  }
  if (prefix) fail(ExitCode.badArgs, "unexpected endkey argument with --prefix flag");
  if (fromKey) fail(ExitCode.badArgs, "unexpected endkey argument with --from-key flag");
  return { key, end: args[1] as string };
}

const roleAdd: CommandSpec = {
  name: "add",
  use: "add <role name>",
  short: "Adds a new role",
  async run(ctx) {
    const name = oneArg(ctx, "role add");
    await call(ctx, "RoleAdd", { name });
    ctx.output.out(`Role ${name} created\n`);
  },
};

const roleDelete: CommandSpec = {
  name: "delete",
  use: "delete <role name>",
  short: "Deletes a role",
  async run(ctx) {
    const role = oneArg(ctx, "role delete");
    await call(ctx, "RoleDelete", { role });
    ctx.output.out(`Role ${role} deleted\n`);
  },
};

const roleGet: CommandSpec = {
  name: "get",
  use: "get <role name>",
  short: "Gets detailed information of a role",
  async run(ctx) {
    const role = oneArg(ctx, "role get");
    ctx.output.out(roleText(role, await call<RoleGetResponse>(ctx, "RoleGet", { role })));
  },
};

const roleList: CommandSpec = {
  name: "list",
  use: "list",
  short: "Lists all roles",
  async run(ctx) {
    const r = await call<{ roles: string[] }>(ctx, "RoleList", {});
    ctx.output.out(r.roles.map((role) => `${role}\n`).join(""));
  },
};

const roleGrantPermission: CommandSpec = {
  name: "grant-permission",
  use: "grant-permission [options] <role name> <permission type> <key> [endkey]",
  short: "Grants a key to a role",
  flags: permFlags,
  async run(ctx) {
    if (ctx.args.length < 3) fail(ExitCode.badArgs, "role grant command requires role name, permission type, and key [endkey] as its argument");
    const [name, type] = ctx.args as [string, string];
    const permType = type.toUpperCase();
    if (!["READ", "WRITE", "READWRITE"].includes(permType)) fail(ExitCode.badArgs, `invalid permission type: ${type}`);
    const { key, end } = permRange(ctx, ctx.args.slice(2));
    await call(ctx, "RoleGrantPermission", { name, perm: { permType, key: bytesOf(key), range_end: bytesOf(end) } });
    ctx.output.out(`Role ${name} updated\n`);
  },
};

const roleRevokePermission: CommandSpec = {
  name: "revoke-permission",
  use: "revoke-permission <role name> <key> [endkey]",
  short: "Revokes a key from a role",
  flags: permFlags,
  async run(ctx) {
    if (ctx.args.length < 2) fail(ExitCode.badArgs, "role revoke-permission command requires role name and key [endkey] as its argument");
    const role = ctx.args[0] as string;
    const { key, end } = permRange(ctx, ctx.args.slice(1));
    await call(ctx, "RoleRevokePermission", { role, key: bytesOf(key), range_end: bytesOf(end) });
    if (end === "") ctx.output.out(`Permission of key ${key} is revoked from role ${role}\n`);
    else if (end !== "\x00") ctx.output.out(`Permission of range [${key}, ${end}) is revoked from role ${role}\n`);
    else ctx.output.out(`Permission of range [${key}, <open ended> is revoked from role ${role}\n`);
  },
};

export const roleCommand: CommandSpec = {
  name: "role",
  use: "role <subcommand>",
  short: "Role related commands",
  subcommands: [roleAdd, roleDelete, roleGet, roleList, roleGrantPermission, roleRevokePermission],
};

// ---- auth

export const authCommand: CommandSpec = {
  name: "auth",
  use: "auth <enable or disable>",
  short: "Enable or disable authentication",
  subcommands: [
    {
      name: "enable",
      use: "enable",
      short: "Enables authentication",
      async run(ctx) {
        if (ctx.args.length !== 0) fail(ExitCode.badArgs, "auth enable command does not accept any arguments");
        onlySimple(ctx);
        const client = await ctx.client();
        // As etcdctl: a root user without the root role gets it (the role is made first).
        await rpc(
          (async () => {
            for (;;) {
              try {
                await client.authCall("AuthEnable", {});
                return;
              } catch (error) {
                if ((error as Error).message !== "etcdserver: root user does not have root role") throw error;
                await client.authCall("RoleAdd", { name: "root" });
                await client.authCall("UserGrantRole", { user: "root", role: "root" });
              }
            }
          })(),
        );
        ctx.output.out("Authentication Enabled\n");
      },
    },
    {
      name: "disable",
      use: "disable",
      short: "Disables authentication",
      async run(ctx) {
        if (ctx.args.length !== 0) fail(ExitCode.badArgs, "auth disable command does not accept any arguments");
        await call(ctx, "AuthDisable", {});
        ctx.output.out("Authentication Disabled\n");
      },
    },
  ],
};
