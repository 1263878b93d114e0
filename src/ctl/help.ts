// Help text in etcdctl's layout (NAME, USAGE, DESCRIPTION, COMMANDS, OPTIONS, GLOBAL OPTIONS),
// aligned with tab stops the way Go's text/tabwriter does with a tab padding character.

import type { CommandSpec } from "./command.js";
import { helpFlag } from "./command.js";
import type { FlagSpec } from "./flag-parser.js";

export const programName = "ketchctl";
export const apiVersion = "3.4";

/** text/tabwriter with minwidth 1, tabwidth 8, padding 1, padchar '\t' over tab-separated cells. */
export function tabAlign(lines: readonly string[]): string {
  const rows = lines.map((line) => line.split("\t"));
  const columns = Math.max(...rows.map((row) => row.length));
  const widths: number[] = [];
  for (let c = 0; c < columns - 1; c++) {
    const cellWidth = Math.max(0, ...rows.filter((row) => row.length > c + 1).map((row) => [...(row[c] as string)].length));
    widths.push(Math.ceil((cellWidth + 1) / 8) * 8);
  }
  return rows
    .map((row) =>
      row
        .map((cell, c) => {
          if (c === row.length - 1) return cell;
          const width = widths[c] as number;
          return cell + "\t".repeat(Math.max(1, Math.ceil((width - [...cell].length) / 8)));
        })
        .join(""),
    )
    .join("\n");
}

function flagLine(spec: FlagSpec): string {
  const names = spec.short === undefined ? `      --${spec.name}` : `  -${spec.short}, --${spec.name}`;
  let value: string;
  if (spec.kind === "bool") value = `[=${String(spec.defaultValue)}]`;
  else if (spec.kind === "string") value = `=${JSON.stringify(spec.defaultValue)}`;
  else if (spec.kind === "strings") value = `=[${(spec.defaultValue as string[]).join(",")}]`;
  else value = `=${String(spec.defaultValue)}`;
  return `${names}${value}\t${spec.usage}`;
}

function flagBlock(specs: readonly FlagSpec[]): string {
  const sorted = [...specs].sort((a, b) => a.name.localeCompare(b.name));
  return tabAlign(sorted.map(flagLine));
}

/** Leaf commands under `command` with their full names ("lease grant"), sorted. */
function leafCommands(command: CommandSpec, prefix = ""): { name: string; short: string }[] {
  const out: { name: string; short: string }[] = [];
  for (const child of command.subcommands ?? []) {
    const name = prefix === "" ? child.name : `${prefix} ${child.name}`;
    if ((child.subcommands?.length ?? 0) > 0) out.push(...leafCommands(child, name));
    else out.push({ name, short: child.short });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export function renderHelp(path: readonly CommandSpec[], globalFlags: readonly FlagSpec[]): string {
  const command = path.at(-1) as CommandSpec;
  const isRoot = path.length === 1;
  const fullName = isRoot ? programName : path.slice(1).map((c) => c.name).join(" ");
  let text = `NAME:\n\t${fullName} - ${command.short}\n\n`;
  const hasChildren = (command.subcommands?.length ?? 0) > 0;
  const use = isRoot ? "" : ` ${command.use.replace(/^\S+/, path.slice(1).map((c) => c.name).join(" "))}`;
  text += `USAGE:\n\t${programName}${use} [flags]\n\n`;
  if (command.description !== undefined) text += `DESCRIPTION:\n\t${command.description.replace(/\n/g, "\n\t")}\n\n`;
  if (hasChildren) {
    text += `API VERSION:\n\t${apiVersion}\n\n\n`;
    const leaves = isRoot ? leafCommands(command) : leafCommands(command).map((leaf) => ({ ...leaf, name: leaf.name }));
    text += `COMMANDS:\n${tabAlign(leaves.map((leaf) => `\t${leaf.name}\t${leaf.short}`))}\n\n`;
  }
  const own = [...(command.flags ?? []), ...(command.persistentFlags ?? []), helpFlag(command.name)];
  if (isRoot) {
    text += `OPTIONS:\n${flagBlock([...globalFlags, helpFlag(programName)])}\n`;
  } else {
    const inherited = path.slice(1, -1).flatMap((c) => c.persistentFlags ?? []);
    text += `OPTIONS:\n${flagBlock(own)}\n\nGLOBAL OPTIONS:\n${flagBlock([...inherited, ...globalFlags])}\n`;
  }
  return `${text}\n`;
}
