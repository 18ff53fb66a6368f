/**
 * tfjs requires variable names to be unique in the whole process. Layers name their
 * variables `<unique prefix>/<layer>.<param>`; checkpoints and reports use the local
 * part after the slash, which is stable across runs.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

let counter = 0;

/** A process-unique variable name for the local name `fc1.theta`. */
export function variableName(local: string): string {
  return `v${counter++}/${local}`;
}

/** The stable local part of a variable name. */
export function localName(name: string): string {
  const i = name.indexOf('/');
  return i < 0 ? name : name.slice(i + 1);
}

/** A trainable variable initialized from `init` (which is disposed), under a process-unique name. */
export function newVariable(init: tf.Tensor, local: string, trainable = true): tf.Variable {
  const v = tf.variable(init, trainable, variableName(local));
  init.dispose();
  return v;
}
