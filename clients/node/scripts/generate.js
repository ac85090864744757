// Generates the TypeScript of the MLSpec contract into clients/node/gen/ with the buf and
// ts-proto installed by `npm ci`: nothing but npm packages, no Python. The google.api
// annotation protos the contract imports come from the google-proto-files package and are
// copied to build/third_party/google/api/, the second module of buf.yaml, unless
// `make third-party` has put them there already.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const here = path.resolve(__dirname, "..");
const root = path.resolve(here, "..", "..");
const googleProtos = path.dirname(require.resolve("google-proto-files/package.json"));
const thirdParty = path.join(root, "build", "third_party", "google", "api");

fs.mkdirSync(thirdParty, { recursive: true });
for (const name of ["field_behavior.proto", "resource.proto"]) {
  const target = path.join(thirdParty, name);
  if (!fs.existsSync(target)) {
    fs.copyFileSync(path.join(googleProtos, "google", "api", name), target);
  }
}

const buf = path.join(here, "node_modules", ".bin", "buf");
const result = spawnSync(buf, ["generate", "proto", "--template", "buf.gen.ts.yaml"], {
  cwd: root,
  stdio: "inherit",
});
if (result.error) {
  throw result.error;
}
process.exit(result.status ?? 1);
