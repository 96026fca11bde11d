// dist.test.js: the committed dist/ is what src/ compiles to, so that users
// and CI run the JS without a build step and a change to src/ cannot ship
// without its dist/. Compiles into a temporary folder with the TypeScript
// of package.json's devDependencies (node_modules/.bin/tsc after `npm ci`,
// or a `tsc` on PATH such as Debian's node-typescript, which CI installs)
// and compares file by file. Skipped when no tsc of that exact version is
// found: another version may emit different text. The second test
// type-checks test/usage.ts (the README's calls) against dist/*.d.ts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from
  "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));
const want = pkg.devDependencies.typescript;

function findTsc() {
  const candidates = [path.join(pkgDir, "node_modules", ".bin", "tsc"),
    ...(process.env.PATH ?? "").split(path.delimiter)
      .map((d) => path.join(d, "tsc"))];
  for (const tsc of candidates) {
    if (!existsSync(tsc)) continue;
    try {
      const v = execFileSync(tsc, ["--version"], { encoding: "utf8" });
      if (v.trim() === `Version ${want}`) return { tsc };
      return { why: `${tsc} is ${v.trim()}, package.json pins ${want}` };
    } catch {
      continue;
    }
  }
  return { why: `no tsc (npm ci, or Debian's node-typescript ${want})` };
}

function files(dir) {
  return readdirSync(dir, { recursive: false }).sort();
}

const found = findTsc();

test("dist/ is what src/ compiles to", { skip: found.why ?? false }, () => {
  const out = mkdtempSync(path.join(os.tmpdir(), "duro-ts-dist-"));
  try {
    execFileSync(found.tsc, ["-p", path.join(pkgDir, "tsconfig.json"),
                             "--outDir", out], { stdio: "pipe" });
    const dist = path.join(pkgDir, "dist");
    assert.deepEqual(files(dist), files(out),
                     "dist/ and a fresh compile hold different files");
    for (const f of files(out))
      assert.equal(readFileSync(path.join(dist, f), "utf8"),
                   readFileSync(path.join(out, f), "utf8"),
                   `dist/${f} is stale: run npm run build in clients/typescript`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("dist/*.d.ts type-check the README's usage", { skip: found.why ?? false },
     () => {
  try {
    execFileSync(found.tsc, [
      "--noEmit", "--strict", "--target", "ES2022", "--module", "ES2022",
      "--moduleResolution", "node", "--lib", "ES2022,DOM",
      path.join(pkgDir, "test", "usage.ts"),
    ], { stdio: "pipe", encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc found errors in test/usage.ts:\n${e.stdout}${e.stderr}`);
  }
});
