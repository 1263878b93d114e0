// Writes src/client/generated/etcd-descriptor.ts from proto/etcd (run after changing the protos).
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { protoRootDir } from "../../src/util/proto-dir.js";
import { etcdDescriptorModuleText } from "./etcd-descriptor-source.js";

// The repository root is the parent of proto/, from the sources and from dist/ alike.
const target = join(dirname(protoRootDir()), "src", "client", "generated", "etcd-descriptor.ts");
writeFileSync(target, etcdDescriptorModuleText());
console.log(`wrote ${target}`);
