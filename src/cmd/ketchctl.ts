#!/usr/bin/env node
// ketchctl: etcdctl 3.4's command line for Ketch (and any etcd v3 server). The composition root:
// reads argv, env and stdin, runs the command, exits with etcdctl's exit code.
// `npm run build` bundles it into dist/ketchctl/ (scripts/bundle-ketchctl.mjs), the `ketchctl` bin.

import net from "node:net";

import { runCtl } from "../ctl/main.js";
import { processOutput } from "../ctl/output.js";

// grpc-js asks net.isIPv6 about every resolved address ("127.0.0.1" too); the first call compiles
// Node's large IPv6 regular expression, 10-15 ms of CPU in a process that lives for one request.
// An IPv6 address always contains a colon, so a string without one is answered without the regex.
const regexIsIPv6 = net.isIPv6;
net.isIPv6 = (input: string): boolean => input.includes(":") && regexIsIPv6(input);

const code = await runCtl(process.argv.slice(2), { output: processOutput, stdin: process.stdin, env: process.env });
// Open gRPC channels and stdin would keep the process alive; stdout/stderr writes are synchronous
// for files and pipes on Linux, so exiting here loses no output.
process.exit(code);
