#!/usr/bin/env node
// Launcher. An installed package runs the compiled CLI (dist/cli.js) in this process: no
// TypeScript loader at run time. In a development checkout (src/cli.ts present and tsx
// installed) it runs the TypeScript sources through tsx instead, so a stale dist/ is never
// used while editing; BAYESPRUNE_DIST=1 forces dist/ there too (after `npm run build`).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli.js');
const sources = join(root, 'src', 'cli.ts');

function tsxLoader() {
  if (process.env.BAYESPRUNE_DIST === '1' || !existsSync(sources)) return null;
  try {
    return import.meta.resolve('tsx');
  } catch {
    return null;
  }
}

const loader = tsxLoader();
if (loader === null) {
  if (!existsSync(compiled)) {
    process.stderr.write(`error: ${compiled} is missing: run \`npm run build\` (or install tsx to run the sources)\n`);
    process.exit(1);
  }
  const { main, formatError } = await import(pathToFileURL(compiled).href);
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${formatError(e)}\n`);
      process.exit(1);
    },
  );
} else {
  // The child gets Ctrl-C itself (same process group); the launcher waits for it to finish
  // (so its "resume with ..." message comes before the shell prompt) and exits with its status.
  const { spawn } = await import('node:child_process');
  const { constants } = await import('node:os');
  const child = spawn(process.execPath, ['--import', loader, sources, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      // SIGINT from a terminal already reached the child; forward the others (e.g. `kill <launcher pid>`).
      if (sig !== 'SIGINT' || !process.stdin.isTTY) child.kill(sig);
    });
  }
  child.on('error', (e) => {
    process.stderr.write(`error: cannot start the CLI: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
}
