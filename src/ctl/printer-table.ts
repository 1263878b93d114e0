// etcdctl's "table" format: olekukonko/tablewriter boxes with centred upper-case headers and
// right-aligned cells, for the list results only; every other result is refused.

import { humanizeBytes } from "./go-format.js";
import type { Output } from "./output.js";
import {
  dbStatusTable,
  endpointHashKVTable,
  endpointHealthTable,
  endpointStatusTable,
  memberListTable,
  unsupported,
  type DbStatus,
  type EpHashKV,
  type EpHealth,
  type EpStatus,
  type Printer,
} from "./printer.js";
import type { MemberListResponse } from "../client/messages.js";

/** tablewriter's rendering with ALIGN_RIGHT cells (etcdctl's setting). */
export function renderTable(hdr: readonly string[], rows: readonly (readonly string[])[]): string {
  const titles = hdr.map((h) => h.replace(/_/g, " ").trim().toUpperCase());
  const widths = titles.map((title, column) => Math.max([...title].length, ...rows.map((row) => [...(row[column] ?? "")].length)));
  const border = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const centre = (text: string, width: number): string => {
    const gap = width - [...text].length;
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + text + " ".repeat(gap - left);
  };
  const right = (text: string, width: number): string => " ".repeat(width - [...text].length) + text;
  let out = border;
  out += `|${titles.map((title, i) => ` ${centre(title, widths[i] as number)} `).join("|")}|\n`;
  out += border;
  for (const row of rows) out += `|${widths.map((w, i) => ` ${right(row[i] ?? "", w)} `).join("|")}|\n`;
  out += border;
  return out;
}

export class TablePrinter implements Printer {
  constructor(private readonly output: Output) {}

  private table({ hdr, rows }: { hdr: string[]; rows: string[][] }): void {
    this.output.out(renderTable(hdr, rows));
  }

  get(): void {
    unsupported("table");
  }
  put(): void {
    unsupported("table");
  }
  del(): void {
    unsupported("table");
  }
  txn(): void {
    unsupported("table");
  }
  watch(): void {
    unsupported("table");
  }
  grant(): void {
    unsupported("table");
  }
  revoke(): void {
    unsupported("table");
  }
  keepAlive(): void {
    unsupported("table");
  }
  timeToLive(): void {
    unsupported("table");
  }
  leases(): void {
    unsupported("table");
  }
  memberAdd(): void {
    unsupported("table");
  }
  memberRemove(): void {
    unsupported("table");
  }
  memberUpdate(): void {
    unsupported("table");
  }
  memberPromote(): void {
    unsupported("table");
  }
  moveLeader(): void {
    unsupported("table");
  }
  alarm(): void {
    unsupported("table");
  }

  memberList(r: MemberListResponse): void {
    this.table(memberListTable(r));
  }

  endpointHealth(list: EpHealth[]): void {
    this.table(endpointHealthTable(list));
  }

  endpointStatus(list: EpStatus[]): void {
    this.table(endpointStatusTable(list, humanizeBytes));
  }

  endpointHashKV(list: EpHashKV[]): void {
    this.table(endpointHashKVTable(list));
  }

  dbStatus(status: DbStatus): void {
    this.table(dbStatusTable(status, humanizeBytes));
  }
}
