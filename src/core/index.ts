export * from './errors.js';
export * from './compare.js';
export * from './clock.js';
export * from './ids.js';
export * from './principal.js';
export * from './lru.js';
export * from './tlsSuites.js';
