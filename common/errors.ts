/**
 * The one error catalog. Every failure that reaches a client is an AppError
 * with a stable snake_case code; this table maps each code once to its HTTP
 * status, gRPC status and WebSocket behaviour. Nothing else formats errors.
 */
import * as grpc from '@grpc/grpc-js';

interface ErrorSpec {
  http: number;
  grpc: grpc.status;
}

/** code → edges. Codes are public (API.md) and stay stable once shipped. */
export const ERROR_CATALOG = {
  invalid_json: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  invalid_field: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  invalid_param: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  invalid_event: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  unknown_type: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  text_too_long: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  unknown_member: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  self_dialog: { http: 400, grpc: grpc.status.INVALID_ARGUMENT },
  unauthorized: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  invalid_credentials: { http: 401, grpc: grpc.status.UNAUTHENTICATED },
  forbidden: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  origin_not_allowed: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  not_member: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  owner_only: { http: 403, grpc: grpc.status.PERMISSION_DENIED },
  not_found: { http: 404, grpc: grpc.status.NOT_FOUND },
  user_not_found: { http: 404, grpc: grpc.status.NOT_FOUND },
  group_not_found: { http: 404, grpc: grpc.status.NOT_FOUND },
  method_not_allowed: { http: 405, grpc: grpc.status.UNIMPLEMENTED },
  login_taken: { http: 409, grpc: grpc.status.ALREADY_EXISTS },
  owner_cannot_leave: { http: 409, grpc: grpc.status.FAILED_PRECONDITION },
  payload_too_large: { http: 413, grpc: grpc.status.RESOURCE_EXHAUSTED },
  unsupported_media_type: { http: 415, grpc: grpc.status.INVALID_ARGUMENT },
  rate_limited: { http: 429, grpc: grpc.status.RESOURCE_EXHAUSTED },
  internal: { http: 500, grpc: grpc.status.INTERNAL },
  unavailable: { http: 503, grpc: grpc.status.UNAVAILABLE },
  /** Internal: the shard does not own the chat (any more); the caller refreshes membership and retries. */
  wrong_shard: { http: 503, grpc: grpc.status.FAILED_PRECONDITION },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** A failure with a stable public code. `field` names the offending input for validation errors. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    /** Seconds until a retry may succeed (429; the Retry-After header rounds it up to whole seconds). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].http;
  }

  /** The public JSON body of API.md: `{"error": {"code","message","field"?}}`. */
  toBody(): { error: { code: string; message: string; field?: string } } {
    const error: { code: string; message: string; field?: string } = {
      code: this.code,
      message: this.message,
    };
    if (this.field) error.field = this.field;
    return { error };
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CATALOG, code);
}

/** Any thrown value as an AppError; unknown errors become `internal` without leaking their text. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError('internal', 'internal error');
}

export function grpcErrorFromAppError(err: AppError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('app-error-code', err.code);
  if (err.field) metadata.set('app-error-field', err.field);
  return { code: ERROR_CATALOG[err.code].grpc, details: err.message, metadata };
}

export function appErrorFromGrpc(err: grpc.ServiceError): AppError {
  const code = String(err.metadata?.get('app-error-code')[0] ?? '');
  const field = err.metadata?.get('app-error-field')[0];
  if (isErrorCode(code)) return new AppError(code, err.details, field ? String(field) : undefined);
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
    return new AppError('unavailable', 'service unavailable, try again');
  }
  return new AppError('internal', 'internal error');
}

/** Shorthand for validation failures. */
export function invalidField(field: string, message: string): AppError {
  return new AppError('invalid_field', message, field);
}
