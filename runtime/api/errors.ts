/** The one error shape of the API: `{error: {type, code, message, param?}}` with the matching status. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found'
  | 'idempotency_error'
  | 'conflict'
  | 'rate_limit_error'
  | 'api_error';

export type ErrorBody = { error: { type: ErrorType; code: string; message: string; param?: string } };

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string;
  readonly param: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    type: ErrorType,
    code: string,
    message: string,
    opts: { param?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = opts.param;
    this.headers = opts.headers ?? {};
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { type: this.type, code: this.code, message: this.message };
    if (this.param !== undefined) error.param = this.param;
    return { error };
  }
}

export const invalidRequest = (code: string, message: string, param?: string) =>
  new ApiError(400, 'invalid_request_error', code, message, param === undefined ? {} : { param });

export const notFound = (what: string) =>
  new ApiError(404, 'not_found', 'resource_missing', `no such ${what}`);

export const unauthenticated = (code: string, message: string) =>
  new ApiError(401, 'authentication_error', code, message, {
    headers: { 'www-authenticate': `Bearer error="invalid_token"` },
  });
