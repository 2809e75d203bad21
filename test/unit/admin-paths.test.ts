/** The OpenAPI path objects of the erasure, listing and DLQ routers describe exactly the routes they register. */
import type express from 'express';
import { adminUserPaths, adminUserRoutes } from '../../src/api/admin-user-routes';
import { dlqPaths, dlqRoutes } from '../../src/api/dlq-routes';
import { PROBLEM_KINDS } from '../../src/api/problem';

const unused = async () => {
  throw new Error('not called');
};

function routerRoutes(router: express.Router): string[] {
  return (router.stack as any[])
    .filter((layer) => layer.route)
    .flatMap((layer) => Object.keys(layer.route.methods).map((m) => `${m} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`))
    .sort();
}

const documented = (paths: Record<string, Record<string, unknown>>) =>
  Object.entries(paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
    .sort();

it.each([
  ['adminUserRoutes', adminUserRoutes({ listUsers: unused, eraseUser: unused }), adminUserPaths],
  ['dlqRoutes', dlqRoutes({ deadLetters: { list: unused, find: unused, replay: unused } }), dlqPaths],
])('%s: every route documented, nothing else', (_name, router, paths) => {
  expect(documented(paths)).toEqual(routerRoutes(router));
  expect(documented(paths).length).toBeGreaterThan(0);
});

it('documents the bearer requirement, the answers and the problems of each operation', () => {
  const del = adminUserPaths['/users/{user_id}'].delete as any;
  expect(del.security).toEqual([{ bearerAuth: [] }]);
  expect(Object.keys(del.responses).sort()).toEqual(['204', '400', '401', '403', '404', '500', '503']);
  expect(del.responses['401'].headers['WWW-Authenticate']).toBeDefined();
  expect(del.responses['404'].description).toContain(PROBLEM_KINDS.notFound.type);
  const list = adminUserPaths['/users'].get as any;
  expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(
    expect.arrayContaining(['limit', 'cursor', 'onboarding_state', 'verification_state', 'created_after', 'created_before']),
  );
  expect(list.responses['200'].content['application/json'].schema.properties.next_cursor).toBeDefined();
  const shown = (dlqPaths['/dlq/{id}'].get as any).responses['200'].content['application/json'].schema;
  expect(shown.properties).toHaveProperty('workflow_id');
  const listed = (dlqPaths['/dlq'].get as any).responses['200'].content['application/json'].schema.properties.letters.items;
  expect(Object.keys(listed.properties)).not.toContain('email');
});
