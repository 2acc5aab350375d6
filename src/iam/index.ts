export * from './arn.js';
export * from './compile.js';
export * from './conditions.js';
export * from './context.js';
export * from './document.js';
export * from './evaluate.js';
export * from './ip.js';
export * from './pattern.js';
