#!/usr/bin/env node
// Fails (exit 1) when frontend/static/vendor/ does not match node_modules:
// a vendored file differs from (or is missing next to) its npm source, VERSIONS
// is stale, or node_modules does not hold the versions package.json pins.
// Needs only Node and `npm ci`; no Playwright, no browser.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { files, root, vendorDir, versionsFile, packageVersion, pinnedVersion } from './vendor-files.mjs';

const problems = [];
for (const f of files) {
  const src = join(root, 'node_modules', f.pkg, f.src);
  const dest = join(vendorDir, f.dest);
  if (!existsSync(src)) {
    problems.push(`node_modules/${f.pkg}/${f.src} is missing (run \`npm ci\`)`);
    continue;
  }
  const have = packageVersion(f.pkg);
  const want = pinnedVersion(f.pkg);
  if (want && want !== have) {
    problems.push(`node_modules has ${f.pkg}@${have} but package.json pins ${want} (run \`npm ci\`)`);
  }
  if (!existsSync(dest)) {
    problems.push(`frontend/static/vendor/${f.dest} is missing`);
    continue;
  }
  if (!readFileSync(src).equals(readFileSync(dest))) {
    problems.push(`frontend/static/vendor/${f.dest} differs from node_modules/${f.pkg}/${f.src}`);
  }
}
const versionsPath = join(vendorDir, 'VERSIONS');
if (problems.length === 0) {
  if (!existsSync(versionsPath)) {
    problems.push('frontend/static/vendor/VERSIONS is missing');
  } else if (readFileSync(versionsPath, 'utf8') !== versionsFile()) {
    problems.push('frontend/static/vendor/VERSIONS is stale');
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-vendor: ${p}`);
  console.error('check-vendor: run `npm ci && npm run vendor` and commit frontend/static/vendor/');
  process.exit(1);
}
console.log(`check-vendor: ok (${files.map((f) => `${f.pkg}@${packageVersion(f.pkg)}`).join(', ')})`);
