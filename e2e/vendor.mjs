#!/usr/bin/env node
// Copies the htmx browser bundles from node_modules into frontend/static/vendor/
// and writes frontend/static/vendor/VERSIONS. Run after changing the versions in
// package.json: `npm install && npm run vendor`, then commit the vendor directory.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { files, root, vendorDir, versionsFile, packageVersion, pinnedVersion } from './vendor-files.mjs';

mkdirSync(vendorDir, { recursive: true });
for (const f of files) {
  const src = join(root, 'node_modules', f.pkg, f.src);
  if (!existsSync(src)) {
    console.error(`vendor: ${src} is missing; run \`npm ci\` first`);
    process.exit(1);
  }
  const have = packageVersion(f.pkg);
  const want = pinnedVersion(f.pkg);
  if (want && want !== have) {
    console.error(`vendor: node_modules has ${f.pkg}@${have} but package.json pins ${want}; run \`npm ci\``);
    process.exit(1);
  }
  copyFileSync(src, join(vendorDir, f.dest));
  console.log(`vendor: ${f.pkg}@${have} ${f.src} -> frontend/static/vendor/${f.dest}`);
}
writeFileSync(join(vendorDir, 'VERSIONS'), versionsFile());
console.log('vendor: wrote frontend/static/vendor/VERSIONS');
