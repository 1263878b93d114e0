// What the auth tests share: a step of a command sequence, the users, and the masking that makes
// two implementations' outputs comparable.
import { comparable, maskJson, maskSimple, type RunResult } from "../ctl/ctl-harness.js";
import { parseJsonExact } from "../integration/cluster.js";

export interface Step {
  args: string[];
  input?: string;
  /** Long-running commands (watch) are stopped after this long; both sides alike. */
  timeoutMs?: number;
}

export const root = ["--user", "root:rootpw"];
export const alice = ["--user", "alice:alicepw"];

/** JSON lines (-w json) with their volatile fields masked; other lines as maskSimple leaves them. */
function maskLines(text: string): string {
  return text
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, "<endpoint>")
    .split("\n")
    .map((line) => {
      if (!line.startsWith("{")) return maskSimple(line);
      try {
        return JSON.stringify(maskJson(parseJsonExact(line)));
      } catch {
        return maskSimple(line);
      }
    })
    .join("\n");
}

export function normalized(r: RunResult): { code: number; stdout: string; stderr: string } {
  const c = comparable(r);
  return { code: c.code, stdout: maskLines(c.stdout), stderr: maskLines(c.stderr) };
}

