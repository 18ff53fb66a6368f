#!/usr/bin/env node
// Thin launcher: runs the TypeScript CLI through tsx so no build step is needed.
// The child gets Ctrl-C itself (same process group); the launcher waits for it to finish
// (so its "resume with ..." message comes before the shell prompt) and exits with its status.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src', 'cli.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
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
