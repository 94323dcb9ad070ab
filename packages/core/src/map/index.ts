export * from './constants.js';
export * from './map.js';
export * from './prefix-tree.js';
