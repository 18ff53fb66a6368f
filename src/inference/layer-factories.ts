/**
 * Which weight layer each inference method trains: point-estimate dense layers for
 * MAP, mean-field LRT layers for variational inference.
 * @module
 */
import { Dense } from '../nn/dense.js';
import type { LayerFactory } from '../nn/builders.js';
import type { Initializer } from '../nn/init.js';
import { LrtDense } from '../bayes/lrt-dense.js';
import type { PriorSpec } from '../bayes/priors.js';
import { Conv2d } from '../nn/conv2d.js';
import { LrtConv2d } from '../bayes/lrt-conv2d.js';

/** Point-estimate layers (MAP / maximum likelihood, and the base of SWAG, SVGD, Laplace). */
export function pointFactory(init: Initializer = 'he-normal'): LayerFactory {
  return {
    describe: 'dense, point estimate',
    dense: (name, i, o, stream) => new Dense({ name, inFeatures: i, outFeatures: o, init, stream }),
    conv2d: (name, inH, inW, cin, cout, k, stream) => new Conv2d({ name, inH, inW, cin, cout, k, init, stream }),
  };
}

/** Mean-field Gaussian layers with the local reparameterization trick. */
export function meanFieldFactory(prior: PriorSpec, initLogSigma2: number, init: Initializer = 'he-normal'): LayerFactory {
  return {
    describe: `lrt-dense, ${prior.type} prior`,
    dense: (name, i, o, stream) => new LrtDense({ name, inFeatures: i, outFeatures: o, prior, initLogSigma2, init, stream }),
    conv2d: (name, inH, inW, cin, cout, k, stream) => new LrtConv2d({ name, inH, inW, cin, cout, k, prior, initLogSigma2, init, stream }),
  };
}
