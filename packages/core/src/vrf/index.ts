export * from './ecvrf.js';
