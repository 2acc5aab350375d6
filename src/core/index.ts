export * from './errors.js';
export * from './compare.js';
export * from './clock.js';
