/**
 * Writes the embedded MNIST split (src/data/mnist-embedded.ts) as raw little-endian arrays, so that
 * experiments/protocols/torch_reference.py trains on exactly the examples, in exactly the order, our runs use:
 *   <dir>/{train,validation,test}_x.f32   float32, n × 784, pixels in [0, 1]
 *   <dir>/{train,validation,test}_y.i32   int32, n
 *
 *   npx tsx experiments/protocols/export-embedded.ts [dir]   (default /tmp/bp_torch)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbeddedMnist } from '../../src/data/mnist-embedded.js';

const dir = process.argv[2] ?? '/tmp/bp_torch';
mkdirSync(dir, { recursive: true });
const m = loadEmbeddedMnist({ flat: true });
for (const part of ['train', 'validation', 'test'] as const) {
  const d = m[part];
  writeFileSync(join(dir, `${part}_x.f32`), Buffer.from(d.x.buffer, d.x.byteOffset, d.x.byteLength));
  const y = Int32Array.from(d.y);
  writeFileSync(join(dir, `${part}_y.i32`), Buffer.from(y.buffer));
  console.log(`${part}: ${d.n} examples → ${join(dir, `${part}_x.f32`)}`);
}
