#!/usr/bin/env node
// ketchctl: etcdctl 3.4's command line for Ketch (and any etcd v3 server). The composition root:
// reads argv, env and stdin, runs the command, exits with etcdctl's exit code.

import { runCtl } from "../ctl/main.js";
import { processOutput } from "../ctl/output.js";

const code = await runCtl(process.argv.slice(2), { output: processOutput, stdin: process.stdin, env: process.env });
// Open gRPC channels and stdin would keep the process alive; stdout/stderr writes are synchronous
// for files and pipes on Linux, so exiting here loses no output.
process.exit(code);
