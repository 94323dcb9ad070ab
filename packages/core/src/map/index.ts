export * from './constants.js';
export * from './prefix-tree.js';
