/** How the API reads JSON bodies: one parser and one content-type check for every route. */
import express, { type Request, type RequestHandler } from 'express';
import { UnsupportedMediaTypeError } from '../errors';

const JSON_TYPES = ['application/json', 'application/*+json'];

/** Parses a JSON body up to `limitBytes`; its errors become problems in src/api/problem.ts. */
export function jsonBody(limitBytes: number): RequestHandler {
  return express.json({ limit: limitBytes, type: JSON_TYPES });
}

/** For a route that takes a body: anything but JSON is a 415, not an empty body. */
export function requireJsonBody(req: Request): void {
  if (!req.is(JSON_TYPES)) throw new UnsupportedMediaTypeError('send the body as application/json');
}
