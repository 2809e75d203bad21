/**
 * OpenAPI path objects for the admin routes of this module's neighbours (admin-user-routes.ts,
 * dlq-routes.ts), in the shape src/api/openapi.ts gives its own: problem answers from
 * PROBLEM_KINDS, the bearer requirement, X-Request-Id. Schemas are inlined from zod, so the
 * admin document can take the paths as they are, without registering components.
 */
import { z } from 'zod';
import { Problem } from '../contract';
import { PROBLEM_KINDS, type ProblemKind } from './problem';

export interface AdminOperation {
  method: 'get' | 'post' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  tags: string[];
  pathParameters?: Array<{ name: string; description: string; format?: 'uuid' }>;
  queryParameters?: Array<{ name: string; description: string; schema: Record<string, unknown> }>;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  problems: ProblemKind[];
}

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'output', target: 'draft-2020-12' });
  return json;
};

export function adminPathObjects(operations: AdminOperation[]): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(op.responses)) {
      responses[status] = { description: answer.description, ...(answer.schema ? { content: { 'application/json': { schema: jsonSchema(answer.schema) } } } : {}) };
    }
    for (const kind of op.problems) {
      const { status, title, type } = PROBLEM_KINDS[kind];
      const existing = responses[status] as { description: string } | undefined;
      const line = `${title} (\`${type}\`)`;
      responses[status] = {
        description: existing ? `${existing.description}; ${line}` : line,
        ...(status === 503 ? { headers: { 'Retry-After': { description: 'seconds', schema: { type: 'integer' } } } } : {}),
        ...(status === 401 ? { headers: { 'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string' } } } } : {}),
        content: { 'application/problem+json': { schema: jsonSchema(Problem) } },
      };
    }
    paths[op.path] ??= {};
    paths[op.path][op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: op.tags,
      security: [{ bearerAuth: [] }],
      parameters: [
        ...(op.pathParameters ?? []).map((p) => ({
          name: p.name,
          in: 'path',
          required: true,
          description: p.description,
          schema: { type: 'string', ...(p.format ? { format: p.format } : {}) },
        })),
        ...(op.queryParameters ?? []).map((p) => ({ name: p.name, in: 'query', required: false, description: p.description, schema: p.schema })),
        {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'Echoed back and written to the audit line; generated when absent',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      ],
      responses,
    };
  }
  return paths;
}

/** Every admin route answers these when the admin token is missing or wrong. */
export const ADMIN_AUTH_PROBLEMS: ProblemKind[] = ['authenticationRequired', 'forbidden'];
