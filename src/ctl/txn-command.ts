// `txn`: etcdctl 3.4's transaction script, from stdin or interactively (-i): compares, a blank
// line, success requests, a blank line, failure requests, a blank line (txn_command.go).
//
//   mod("key1") > "0"
//   value("key2") = "x"
//
//   put key1 "new value"
//   get key2 --prefix
//
//   del key1
//

import type { Compare, CompareResult, CompareTarget, RequestOp } from "../client/messages.js";
import { type CommandContext, type CommandSpec, FlagReader, findSubcommand } from "./command.js";
import { CtlError, ExitCode, fail } from "./exit-codes.js";
import { FlagError, parseFlags, type FlagSpec } from "./flag-parser.js";
import { goQuote } from "./go-format.js";
import { delFlags, delRequest, getFlags, getRequest, putFlags, putRequest } from "./kv-commands.js";
import { bytesOf, parseDecInt64, rpc } from "./rpc.js";

const compareResults: Record<string, CompareResult> = { "=": "EQUAL", "==": "EQUAL", "!=": "NOT_EQUAL", ">": "GREATER", "<": "LESS" };

/** Splits a request line into arguments: "double quoted" (Go escapes), 'single quoted', or bare words. */
export function argify(line: string): string[] {
  const pattern = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const args: string[] = [];
  for (const match of line.matchAll(pattern)) {
    const arg = match[0];
    if (arg.startsWith("'")) args.push(arg.slice(1, -1));
    else if (arg.startsWith('"')) args.push(unquoteGo(arg) ?? fail(ExitCode.invalidInput, `invalid syntax: ${arg}`));
    else args.push(arg);
  }
  return args;
}

/** strconv.Unquote for "..." and `...` strings; undefined when it is not valid Go syntax. */
export function unquoteGo(text: string): string | undefined {
  if (text.length >= 2 && text.startsWith("`") && text.endsWith("`")) return text.slice(1, -1);
  if (text.length < 2 || !text.startsWith('"') || !text.endsWith('"')) return undefined;
  const body = text.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === '"') return undefined;
    if (ch !== "\\") {
      bytes.push(...Buffer.from(ch, "utf8"));
      continue;
    }
    const next = body[++i];
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, '"': 34, "'": 39 };
    if (next === undefined) return undefined;
    if (simple[next] !== undefined) bytes.push(simple[next] as number);
    else if (next === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if ((next === "u" || next === "U") && /^[0-9a-fA-F]+$/.test(body.slice(i + 1, i + (next === "u" ? 5 : 9)))) {
      const digits = next === "u" ? 4 : 8;
      bytes.push(...Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 1, i + 1 + digits), 16)), "utf8"));
      i += digits;
    } else if (/^[0-7]{3}$/.test(body.slice(i, i + 3))) {
      bytes.push(parseInt(body.slice(i, i + 3), 8));
      i += 2;
    } else return undefined;
  }
  return Buffer.from(bytes).toString("utf8");
}

/** fmt.Sscanf's %q: a Go-quoted string after optional spaces; [value, rest] or undefined. */
function scanQuoted(input: string): [string, string] | undefined {
  const text = input.replace(/^[ \t]+/, "");
  const quote = text[0];
  if (quote === "`") {
    const end = text.indexOf("`", 1);
    return end === -1 ? undefined : [text.slice(1, end), text.slice(end + 1)];
  }
  if (quote !== '"') return undefined;
  for (let i = 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') {
      const value = unquoteGo(text.slice(0, i + 1));
      return value === undefined ? undefined : [value, text.slice(i + 1)];
    }
  }
  return undefined;
}

/** One compare line: `target("key") op "value"` with etcdctl's targets and error texts. */
export function parseCompare(line: string): Compare {
  const paren = line.indexOf("(");
  if (paren === -1) fail(ExitCode.invalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  let key = "";
  let op = "";
  let value = "";
  let scanned = 0;
  // fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)
  const first = scanQuoted(line.slice(paren + 1));
  if (first !== undefined) {
    key = first[0];
    scanned = 1;
    const afterKey = /^\)[ \t]+(\S+)/.exec(first[1]);
    if (afterKey !== null) {
      op = afterKey[1] as string;
      scanned = 2;
      const third = scanQuoted(first[1].slice(afterKey[0].length));
      if (third !== undefined && /^[ \t]/.test(first[1].slice(afterKey[0].length))) {
        value = third[0];
        scanned = 3;
      }
    }
  }
  if (scanned !== 3) {
    fail(ExitCode.invalidInput, `malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(value)}`);
  }
  const result = compareResults[op];
  // etcdctl panics on an unknown operator; a clear error is kinder and exits the same way as bad input.
  if (result === undefined) fail(ExitCode.invalidInput, `malformed comparison: ${line} (unknown operator ${op})`);
  const compare: Compare = { key: bytesOf(key), result };
  const numeric = (field: "version" | "create_revision" | "mod_revision" | "lease", targetName: CompareTarget): Compare => {
    try {
      return { ...compare, target: targetName, [field]: parseDecInt64(value) };
    } catch {
      throw new CtlError(ExitCode.invalidInput, `invalid txn compare request: ${line}`);
    }
  };
  switch (target) {
    case "ver":
    case "version":
      return numeric("version", "VERSION");
    case "c":
    case "create":
      return numeric("create_revision", "CREATE");
    case "m":
    case "mod":
      return numeric("mod_revision", "MOD");
    case "val":
    case "value":
      return { ...compare, target: "VALUE", value: bytesOf(value) };
    case "lease":
      return numeric("lease", "LEASE");
    default:
      fail(ExitCode.invalidInput, `malformed comparison: ${line} (unknown target ${target})`);
  }
}

const opCommands: { name: string; use: string; flags: FlagSpec[] }[] = [
  { name: "put", use: "put [options] <key> <value> (<value> can also be given from stdin)", flags: [...putFlags] },
  { name: "get", use: "get [options] <key> [range_end]", flags: [...getFlags] },
  { name: "del", use: "del [options] <key> [range_end]", flags: [...delFlags] },
];

/** cobra's default usage text, which etcdctl prints when a request line has a bad flag. */
function cobraUsage(use: string, flags: readonly FlagSpec[]): string {
  const all = [...flags, { name: "help", short: "h", kind: "bool", defaultValue: false, usage: `help for ${use.split(" ")[0] ?? ""}` } as FlagSpec];
  const typeName: Record<string, string> = { string: " string", int: " int", duration: " duration", strings: " strings", bool: "" };
  const rows = all
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((spec) => {
      const names = spec.short === undefined ? `      --${spec.name}` : `  -${spec.short}, --${spec.name}`;
      const shown = spec.kind === "string" && spec.defaultValue !== "" ? ` (default ${JSON.stringify(spec.defaultValue)})` : "";
      return [`${names}${typeName[spec.kind] ?? ""}`, `${spec.usage}${shown}`] as const;
    });
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = rows.map(([left, right]) => `${left.padEnd(width)}   ${right}`);
  return `Usage:\n   ${use} [flags]\n\nFlags:\n${lines.join("\n")}\n\n`;
}

/** One request line: `get|put|del` with those commands' arguments and flags. */
export async function parseRequestOp(line: string, output?: { err(text: string): void }): Promise<RequestOp> {
  const args = argify(line);
  if (args.length < 2) fail(ExitCode.invalidInput, `invalid txn compare request: ${line}`);
  const command = findSubcommand({ name: "", use: "", short: "", subcommands: opCommands.map((c) => ({ ...c, use: "", short: "" })) }, args[0] as string);
  const spec = opCommands.find((c) => c.name === command?.name);
  if (spec === undefined) fail(ExitCode.invalidInput, `invalid txn request: ${line}`);
  let flags: FlagReader;
  let positionals: string[];
  try {
    const parsed = parseFlags(args.slice(1), spec.flags);
    flags = new FlagReader(parsed);
    positionals = parsed.positionals;
  } catch (error) {
    if (error instanceof FlagError) {
      output?.err(cobraUsage(spec.use, spec.flags));
      fail(ExitCode.invalidInput, `invalid txn request: ${line}`);
    }
    throw error;
  }
  switch (spec.name) {
    case "put":
      // The script itself is stdin, so a put line must carry its value.
      return { request_put: await putRequest(positionals, flags, async () => Buffer.alloc(0)) };
    case "get":
      return { request_range: getRequest(positionals, flags) };
    default:
      return { request_delete_range: delRequest(positionals, flags) };
  }
}

async function readSection<T>(ctx: CommandContext, parse: (line: string) => T | Promise<T>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const raw = await ctx.readLine();
    // bufio.ReadString: input that ends without a newline is an EOF error, even mid-line.
    if (raw === null || !raw.endsWith("\n")) fail(ExitCode.invalidInput, "EOF");
    const line = raw.trim();
    if (line === "") return items;
    items.push(await parse(line));
  }
}

export const txnCommand: CommandSpec = {
  name: "txn",
  use: "txn [options]",
  short: "Txn processes all the requests in one transaction",
  flags: [{ name: "interactive", short: "i", kind: "bool", defaultValue: false, usage: "Input transaction in interactive mode" }],
  async run(ctx) {
    if (ctx.args.length !== 0) fail(ExitCode.badArgs, "txn command does not accept argument");
    const interactive = ctx.flags.bool("interactive");
    const prompt = (text: string): void => {
      if (interactive) ctx.output.out(`${text}\n`);
    };
    const printer = await ctx.printer();
    prompt("compares:");
    const compare = await readSection(ctx, parseCompare);
    prompt("success requests (get, put, del):");
    const success = await readSection(ctx, (line) => parseRequestOp(line, ctx.output));
    prompt("failure requests (get, put, del):");
    const failure = await readSection(ctx, (line) => parseRequestOp(line, ctx.output));
    const client = await ctx.client();
    printer.txn(await rpc(client.txn({ compare, success, failure })));
  },
};
