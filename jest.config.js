/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Run by jest.chaos.config.js, alone: test/chaos restarts shared services; bridge-circuit
  // stops and freezes a Temporal server and reads the queue's depth (test/README.md).
  testPathIgnorePatterns: ['/node_modules/', '/test/chaos/', '/test/integration/bridge-circuit.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  // Fails the run if a test left a database, queue or exchange of its own behind.
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Integration tests share two cores with Postgres, RabbitMQ and a Temporal server each.
  maxWorkers: 2,
  testTimeout: 120_000,
  // Fail loudly instead of hanging on a handle a test forgot to close.
  forceExit: false,
};
