// The Go formatting ketchctl reproduces (checked against what etcdctl 3.4 prints) and its
// pflag-style argument parsing.

import { describe, expect, it } from "vitest";

import { parseFlags, type FlagSpec } from "../../src/ctl/flag-parser.js";
import { parseGoDurationMs } from "../../src/ctl/go-duration.js";
import { goDurationString, goQuote, humanizeBytes, leaseHex } from "../../src/ctl/go-format.js";
import { marshalGoJson, int } from "../../src/ctl/go-json.js";
import { argify, parseCompare } from "../../src/ctl/txn-command.js";
import { renderTable } from "../../src/ctl/printer-table.js";

describe("Go formatting", () => {
  it("%q quotes like strconv.Quote, invalid UTF-8 as \\x", () => {
    expect(goQuote("bar")).toBe('"bar"');
    expect(goQuote(Buffer.from([0x61, 0x01, 0xff, 0x22, 0xc3, 0xa9]))).toBe('"a\\x01\\xff\\"é"');
    expect(goQuote("tab\there\nnl\\")).toBe('"tab\\there\\nnl\\\\"');
    expect(goQuote("\u200b")).toBe('"\\u200b"');
  });

  it("time.Duration.String and humanize.Bytes", () => {
    expect(goDurationString(1_271_877n)).toBe("1.271877ms");
    expect(goDurationString(999n)).toBe("999ns");
    expect(goDurationString(1_500n)).toBe("1.5µs");
    expect(goDurationString(2_500_000_000n)).toBe("2.5s");
    expect(goDurationString(3_600_000_000_000n)).toBe("1h0m0s");
    expect(humanizeBytes(20480)).toBe("20 kB");
    expect(humanizeBytes(20500)).toBe("20 kB");
    expect(humanizeBytes(1_234_567)).toBe("1.2 MB");
    expect(humanizeBytes(5)).toBe("5 B");
    expect(leaseHex("1353509813717112106")).toBe("12c8a2011e9d152a");
    expect(leaseHex("2748")).toBe("0000000000000abc");
  });

  it("Go durations parse as time.ParseDuration", () => {
    expect(parseGoDurationMs("2s")).toBe(2000);
    expect(parseGoDurationMs("1m30s")).toBe(90_000);
    expect(parseGoDurationMs("500ms")).toBe(500);
    expect(parseGoDurationMs("0")).toBe(0);
    expect(() => parseGoDurationMs("abc")).toThrow('time: invalid duration "abc"');
    expect(() => parseGoDurationMs("5")).toThrow('time: missing unit in duration "5"');
  });

  it("encoding/json: bare int64 numbers, base64 bytes, HTML-safe strings", () => {
    expect(marshalGoJson({ a: int("18446744073709551615"), b: Buffer.from("bar"), c: "<&>", d: undefined, e: [true, null] })).toBe(
      '{"a":18446744073709551615,"b":"YmFy","c":"\\u003c\\u0026\\u003e","e":[true,null]}',
    );
  });

  it("tables as tablewriter draws them for etcdctl", () => {
    expect(renderTable(["ID", "Status"], [["667880157b8812c8", "started"]])).toBe(
      "+------------------+---------+\n|        ID        | STATUS  |\n+------------------+---------+\n| 667880157b8812c8 | started |\n+------------------+---------+\n",
    );
  });
});

describe("arguments", () => {
  const specs: FlagSpec[] = [
    { name: "prefix", kind: "bool", defaultValue: false, usage: "" },
    { name: "limit", kind: "int", defaultValue: 0, usage: "" },
    { name: "write-out", short: "w", kind: "string", defaultValue: "simple", usage: "" },
    { name: "endpoints", kind: "strings", defaultValue: ["127.0.0.1:2379"], usage: "" },
  ];

  it("flags anywhere, --x=v, -w v, -wv, -- ends flags, slices append", () => {
    const parsed = parseFlags(["get", "--prefix", "k", "-w", "json", "--limit=3", "--endpoints", "a,b", "--endpoints=c", "--", "--not-a-flag"], specs);
    expect(parsed.positionals).toEqual(["get", "k", "--not-a-flag"]);
    expect(parsed.argsLenAtDash).toBe(2);
    expect(Object.fromEntries(parsed.values)).toEqual({ prefix: true, limit: 3, "write-out": "json", endpoints: ["a", "b", "c"] });
    expect(parseFlags(["-wfields"], specs).values.get("write-out")).toBe("fields");
  });

  it("pflag's error texts", () => {
    expect(() => parseFlags(["--bogus"], specs)).toThrow("unknown flag: --bogus");
    expect(() => parseFlags(["-x"], specs)).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseFlags(["--limit", "abc"], specs)).toThrow('invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax');
    expect(() => parseFlags(["--limit"], specs)).toThrow("flag needs an argument: --limit");
    expect(() => parseFlags(["--prefix=maybe"], specs)).toThrow('invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  });

  it("txn lines: argify quoting and compares", () => {
    expect(argify(`put "sp ace" 'single q' bare "esc\\"aped"`)).toEqual(["put", "sp ace", "single q", "bare", 'esc"aped']);
    expect(parseCompare('mod("k") > "7"')).toMatchObject({ target: "MOD", result: "GREATER", mod_revision: "7" });
    expect(parseCompare('value(`k`) != `v`')).toMatchObject({ target: "VALUE", result: "NOT_EQUAL", value: Buffer.from("v") });
    expect(() => parseCompare('value("k")="a"')).toThrow('malformed comparison: value("k")="a"; got value("k")  ""');
  });
});
