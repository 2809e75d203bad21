/** The admin document describes the erasure, listing and DLQ routers exactly, with their answers and no address in the DLQ list. */
import type express from 'express';
import { adminUserRoutes } from '../../src/api/admin-user-routes';
import { dlqRoutes } from '../../src/api/dlq-routes';
import { ADMIN_OPERATIONS, openApiDocument } from '../../src/api/openapi';
import { PROBLEM_KINDS } from '../../src/api/problem';

const unused = async () => {
  throw new Error('not called');
};

function routerRoutes(router: express.Router): string[] {
  return (router.stack as any[])
    .filter((layer) => layer.route)
    .flatMap((layer) => Object.keys(layer.route.methods).map((m) => `${m} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`));
}

const doc = openApiDocument('test', 'admin') as any;
const schemaOf = (ref: { $ref: string }) => doc.components.schemas[ref.$ref.split('/').pop()!];

it.each([
  ['adminUserRoutes', adminUserRoutes({ listUsers: unused, eraseUser: unused })],
  ['dlqRoutes', dlqRoutes({ deadLetters: { list: unused, find: unused, replay: unused } })],
])('%s: every route is an admin operation', (_name, router) => {
  const documented = new Set(ADMIN_OPERATIONS.map((op) => `${op.method} ${op.path}`));
  const routes = routerRoutes(router);
  expect(routes.length).toBeGreaterThan(0);
  for (const route of routes) expect(documented).toContain(route);
});

it('documents the bearer requirement, the answers and the problems of each operation', () => {
  const del = doc.paths['/users/{user_id}'].delete;
  expect(del.security).toEqual([{ bearerAuth: [] }]);
  expect(Object.keys(del.responses).sort()).toEqual(['204', '400', '401', '403', '404', '500', '503']);
  expect(del.responses['401'].headers['WWW-Authenticate']).toBeDefined();
  expect(del.responses['404'].description).toContain(PROBLEM_KINDS.notFound.type);
  const list = doc.paths['/users'].get;
  const params = Object.fromEntries(list.parameters.map((p: { name: string }) => [p.name, p]));
  for (const name of ['limit', 'cursor', 'onboarding_state', 'verification_state', 'created_after', 'created_before']) expect(params[name].required).toBe(false);
  expect(params.onboarding_state.schema.enum).toEqual(['PERSISTED', 'COMPLETED']);
  expect(schemaOf(list.responses['200'].content['application/json'].schema).properties.next_cursor).toBeDefined();
  expect(doc.paths['/dlq/{id}'].get.parameters.find((p: { name: string }) => p.name === 'id').schema.format).toBeUndefined();
  const shown = schemaOf(doc.paths['/dlq/{id}'].get.responses['200'].content['application/json'].schema);
  expect(shown.properties).toHaveProperty('workflow_id');
  const listed = schemaOf(doc.paths['/dlq'].get.responses['200'].content['application/json'].schema).properties.letters.items;
  expect(Object.keys(listed.properties)).not.toContain('email');
});
