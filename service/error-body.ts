/**
 * The JSON body of every answer that is not a result (the wire's WireError): the library's
 * code, its HTTP status from the one error table, and the field at fault.
 */
import { STATUS_CODES } from 'node:http';
import { ERROR_CODES, InvalidArgumentError, WarmboxError } from '../contract/errors.js';
import { fieldOfSchemaErrors, httpStatusOf, type SchemaError, type ServiceErrorCode, type WireError } from '../wire/index.js';

type AnyError = Error & { code?: string; statusCode?: number; validation?: unknown[]; field?: string; reason?: string };

/** A library error as itself, a validation error as an InvalidArgumentError naming the field, anything else as internal. */
export function errorBody(error: AnyError): WireError {
  if (error.validation !== undefined) return invalid(error.message, fieldOfSchemaErrors(error.validation as SchemaError[]));
  if (error instanceof WarmboxError || (ERROR_CODES as readonly string[]).includes(error.code ?? '')) {
    const statusCode = httpStatusOf(error.code!);
    return { statusCode, code: error.code!, error: httpName(statusCode), message: error.message, ...(error.field ? { field: error.field } : {}), ...(error.reason ? { reason: error.reason } : {}) };
  }
  const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
  return { statusCode, code: error.code ?? ('WARMBOX_ERR_INTERNAL' satisfies ServiceErrorCode), error: httpName(statusCode), message: error.message };
}

/** The body of a refused argument. */
export function invalid(message: string, field: string): WireError {
  return { statusCode: 400, code: InvalidArgumentError.code, error: 'Bad Request', message, field };
}

/** The status's name; 499, an aborted job's, is nginx's and not in Node's table. */
function httpName(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? (statusCode === 499 ? 'Client Closed Request' : 'Error');
}
