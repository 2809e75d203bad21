// The chaos test restarts the shared RabbitMQ, so it runs alone, after the main suite.
const base = require('./jest.config');
/** @type {import('jest').Config} */
module.exports = { ...base, roots: ['<rootDir>/test/chaos'], testPathIgnorePatterns: [], maxWorkers: 1 };
