// Files that run alone, one at a time, after the main suite: the chaos test restarts the shared
// RabbitMQ and sets its consumer timeout broker-wide; the bridge-circuit test stops and freezes a
// Temporal server and reads the queue's depth, which the broker restarts would disturb (test/README.md).
const base = require('./jest.config');
/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['<rootDir>/test/chaos/**/*.test.ts', '<rootDir>/test/integration/bridge-circuit.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
};
