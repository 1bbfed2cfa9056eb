import type { AppOptions } from './app.js';

type Compilers = NonNullable<AppOptions['compilers']>;

/** What Fastify says of a schema it compiles: which route, and which part of it. */
export interface SchemaRoute {
  readonly method?: string;
  readonly url?: string;
  readonly httpPart?: string;
  readonly httpStatus?: string;
}

export function schemaKey({ method, url, httpPart, httpStatus }: SchemaRoute): string {
  return `${method} ${url} ${httpPart ?? `response ${httpStatus}`}`;
}

/**
 * Compilers that hand Fastify the code compile-schemas.ts generated, compiling nothing. They
 * are what `StandaloneValidator` and `StandaloneSerializer` do in read mode, without
 * importing those modules, which would load Ajv at every container start for nothing.
 */
export function precompiled(compiled: Record<string, unknown>): Compilers {
  const restore = (route: SchemaRoute) => {
    const fn = compiled[schemaKey(route)];
    if (typeof fn !== 'function') throw new Error(`no precompiled schema for ${schemaKey(route)}`);
    return fn;
  };
  return {
    buildValidator: () => restore,
    buildSerializer: () => restore,
  } as unknown as Compilers;
}
