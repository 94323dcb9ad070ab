export * from './epochs.js';
export * from './statements.js';
